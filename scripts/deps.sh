# Shared by run.sh and test.sh: install what gusu needs on Debian 12, as
# root, only when it is missing. Sourced, not executed.

need_root_for_apt() {
	if [ "$(id -u)" != 0 ]; then
		echo "gusu: $1 is missing; run this script as root (or: sudo apt-get install $2)" >&2
		exit 1
	fi
}

apt_updated=
apt_install() {
	need_root_for_apt "$*" "$*"
	if [ -z "$apt_updated" ]; then
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# PostgreSQL 15 + PostGIS 3, the server binaries gusu's managed cluster runs.
ensure_postgis() {
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
		! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
		echo "gusu: installing PostgreSQL 15 and PostGIS 3 (apt-get)" >&2
		apt_install postgresql-15 postgresql-15-postgis-3
	fi
}

# A Go toolchain new enough for go.mod: the one on PATH or in /usr/local/go,
# else the official toolchain module that go.mod names, from the Go module
# proxy (the route `GOTOOLCHAIN` itself takes), unpacked under
# ~/.cache/gusu. Debian 12's own golang-go (1.19) is too old for either.
go_ok() {
	command -v go >/dev/null 2>&1 || return 1
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
	[ -n "$v" ] || return 1
	major=${v%%.*}; rest=${v#*.}; minor=${rest%%.*}
	[ "$major" -gt 1 ] || [ "$minor" -ge 21 ] # from 1.21 go fetches what go.mod needs
}

ensure_go() {
	if ! go_ok && [ -x /usr/local/go/bin/go ]; then
		export PATH="/usr/local/go/bin:$PATH"
	fi
	if ! go_ok; then
		want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
		arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
		dir="$HOME/.cache/gusu/go$want"
		if [ ! -x "$dir/bin/go" ]; then
			command -v curl >/dev/null 2>&1 && command -v unzip >/dev/null 2>&1 || apt_install curl unzip ca-certificates
			echo "gusu: fetching Go $want from the Go module proxy" >&2
			tmp=$(mktemp -d)
			curl -fsSL "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$want.linux-$arch.zip" -o "$tmp/go.zip"
			unzip -q "$tmp/go.zip" -d "$tmp"
			mkdir -p "$(dirname "$dir")"
			rm -rf "$dir"
			mv "$tmp/golang.org/toolchain@v0.0.1-go$want.linux-$arch" "$dir"
			rm -rf "$tmp"
		fi
		export PATH="$dir/bin:$PATH"
	fi
	export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
	# The OSM PBF reader decompresses with the system zlib when cgo is on.
	if command -v gcc >/dev/null 2>&1 && [ ! -f /usr/include/zlib.h ]; then
		echo "gusu: installing zlib1g-dev (apt-get)" >&2
		apt_install zlib1g-dev
	fi
}

# Map export (GET /api/maps/export) renders the viewer's own map in
# Debian's headless Chromium, with CJK fonts for the Chinese labels.
ensure_chromium() {
	missing=
	[ -x /usr/bin/chromium ] || missing="$missing chromium"
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$missing fonts-noto-cjk"
	if [ -n "$missing" ]; then
		echo "gusu: installing$missing (apt-get) for map export" >&2
		apt_install $missing
	fi
}

# Browser tests: Debian's Chromium (driven by playwright-core, which never
# downloads a browser of its own), Node.js with npm, and CJK fonts so that
# screenshots show the Chinese labels.
ensure_browser() {
	missing=
	[ -x /usr/bin/chromium ] || missing="$missing chromium"
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$missing fonts-noto-cjk"
	# The font gusu's Latin glyphs are rendered from (tests check they are current).
	[ -f /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf ] || missing="$missing fonts-noto-core"
	# Map export tests read the PDFs with poppler (pdfinfo, pdftoppm, pdftotext).
	command -v pdfinfo >/dev/null 2>&1 || missing="$missing poppler-utils"
	if [ -n "$missing" ]; then
		echo "gusu: installing$missing (apt-get)" >&2
		apt_install $missing
	fi
}

# pgRouting, for the accessibility engine's cross-check and benchmark.
ensure_pgrouting() {
	if ! ls /usr/share/postgresql/*/extension/pgrouting.control >/dev/null 2>&1; then
		echo "gusu: installing pgRouting (apt-get)" >&2
		apt_install postgresql-15-pgrouting
	fi
}

# A C compiler: the race detector (go test -race) needs cgo. Plain builds
# do without (Go turns cgo off when there is no compiler).
ensure_cc() {
	if ! command -v gcc >/dev/null 2>&1; then
		echo "gusu: installing gcc (apt-get) for the race detector" >&2
		apt_install gcc libc6-dev
	fi
}

# GDAL's command-line tools: the OGC API tests read gusu through GDAL's own
# OAPIF driver, the reference client.
ensure_gdal() {
	if ! command -v ogr2ogr >/dev/null 2>&1; then
		echo "gusu: installing GDAL (apt-get gdal-bin)" >&2
		apt_install gdal-bin
	fi
}

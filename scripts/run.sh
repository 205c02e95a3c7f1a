#!/bin/sh
# Run gusu with the bundled Suzhou data: installs PostgreSQL 15 + PostGIS
# when missing, builds gusu and serves http://127.0.0.1:8080/ (Ctrl-C stops
# it and its database). Extra arguments go to `gusu serve`.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_postgis
ensure_chromium
ensure_go
go build -o bin/gusu ./cmd/gusu
exec bin/gusu serve "$@"

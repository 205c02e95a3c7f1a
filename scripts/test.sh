#!/bin/sh
# Run every test: installs what the tests need when missing, then
#  1. vets and runs the Go tests (race detector on) against real PostGIS
#     clusters that the tests start and remove themselves;
#  2. runs the browser tests: Debian's Chromium, driven by playwright-core,
#     against a real gusu with the bundled data.
# Screenshots of the browser tests go to .artifacts/browser/.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_postgis
ensure_pgrouting
ensure_cc
ensure_go
ensure_browser
ensure_gdal

go vet ./...
go test -race -count=1 -timeout 20m ./...
# A dense layer of a million polygons keeps its footprint at every zoom
# (about 3 minutes; the work is PostGIS's, so no race detector).
GUSU_TEST_DENSE_PARCELS=1000000 go test -count=1 -timeout 20m -run '^TestDenseLayerKeepsItsFootprint$' ./tiles/

# A short run of each fuzz target over the upload parsers; a crash found
# here is saved under testdata/fuzz and fails the run.
for target in geo/shp:FuzzShapefile geo/geojsonstream:FuzzReader data/upload:FuzzZippedShapefile geo/gpkg:FuzzOpen geo/crs:FuzzFromWKT; do
	go test -run='^$' -fuzz="^${target#*:}\$" -fuzztime="${GUSU_FUZZTIME:-15s}" -fuzzminimizetime=1s "./${target%%:*}"
done

(cd frontend && npm ci --no-audit --no-fund --loglevel=error)
go build -o bin/gusu ./cmd/gusu
GUSU_BIN="$PWD/bin/gusu" GUSU_ARTIFACTS="$PWD/.artifacts/browser" \
	node --test frontend/test/*.test.mjs

#!/bin/sh
# Run every test: installs what the tests need when missing, then vets and
# runs the Go tests (with the race detector) against real PostGIS clusters
# that the tests start and remove themselves.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_postgis
ensure_go
go vet ./...
go test -race -count=1 -timeout 20m ./...

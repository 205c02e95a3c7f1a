#!/bin/sh
# The replica's entrypoint: on first start, copy the primary with
# pg_basebackup -R (which leaves standby.signal and primary_conninfo), then
# run PostgreSQL as a hot standby through the image's own entrypoint.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 700 "$PGDATA"
	until gosu postgres env PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -U "$POSTGRES_USER" \
		-D "$PGDATA" -R -X stream --checkpoint=fast; do
		echo "waiting for the primary ($PRIMARY_HOST)…" >&2
		rm -rf "${PGDATA:?}"/*
		sleep 3
	done
fi
exec docker-entrypoint.sh postgres -c hot_standby=on

#!/bin/sh
# Run once by the postgis image when it creates the primary's cluster:
# lets the replica stream from it (replication connections from the
# compose network, with the password).
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"

#!/bin/sh
# Creates (or upgrades) Temporal's two PostgreSQL databases: the
# persistence store and the SQL visibility store. Idempotent: `create`
# fails harmlessly when the database exists, and update-schema applies only
# the versions not yet applied. Runs in temporalio/admin-tools (settings
# from deploy/temporal/server.env), and outside Docker in
# scripts/with-temporal-server (SCHEMA_DIR: the same server version's schema).
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
PORT=${DB_PORT:-5432}
SCHEMA=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
STORE_DB=${DBNAME:-temporal}
VISIBILITY_DB=${VISIBILITY_DBNAME:-temporal_visibility}

tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" "$@"; }

for db in "$STORE_DB" "$VISIBILITY_DB"; do
  dir=temporal
  [ "$db" = "$VISIBILITY_DB" ] && dir=visibility
  echo "schema of $db"
  tool --db "$db" create || echo "database $db exists"
  tool --db "$db" setup-schema -v 0.0 || echo "schema of $db already set up"
  tool --db "$db" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "Temporal schema ready"

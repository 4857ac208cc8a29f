#!/bin/sh
# Run once by the postgres image on an empty data directory: creates
# certflow's own database and role, apart from Temporal's.
set -eu
: "${CERTFLOW_DB_PASSWORD:?CERTFLOW_DB_PASSWORD is required}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE certflow LOGIN PASSWORD '${CERTFLOW_DB_PASSWORD}';
CREATE DATABASE certflow OWNER certflow;
SQL

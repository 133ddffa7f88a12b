#!/bin/sh
# Runs once, when the PostgreSQL data volume is first initialised (docker-entrypoint-initdb.d).
# The platform must connect as a role that is NOT a superuser, or row-level security would be
# bypassed: create that role, give it the database and its public schema, and create the
# pgvector extension (which needs a superuser) ahead of the migrations.
set -eu
: "${APP_DB_USER:?APP_DB_USER is required}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_user="$APP_DB_USER" -v app_password="$APP_DB_PASSWORD" -v db_name="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app_user" LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS PASSWORD :'app_password';
ALTER DATABASE :"db_name" OWNER TO :"app_user";
CREATE EXTENSION IF NOT EXISTS vector;
ALTER SCHEMA public OWNER TO :"app_user";
SQL

#!/bin/sh
# Run once by the postgres image on the first start of its volume (/docker-entrypoint-initdb.d), as the superuser:
# the owner role (owns database ats, runs migrations) and the app role (the server's login, owns nothing).
# The app role's privileges inside the database are granted by `ats db upgrade` after each upgrade.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$ATS_DB_OWNER_PASSWORD" -v app_password="$ATS_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE ats_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE ats_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE ats OWNER ats_owner;
REVOKE ALL ON DATABASE ats FROM PUBLIC;
GRANT CONNECT ON DATABASE ats TO ats_app;
SQL

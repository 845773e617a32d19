"""Least privilege: the role the server connects as cannot rewrite the audit log, change the schema or own anything."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import psycopg.errors
import pytest
from sqlalchemy.engine import make_url

from ats import migrate
from ats.settings import Settings
from tests.conftest import Account


def _connect(url: str) -> psycopg.Connection:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )


@pytest.fixture
def as_app(settings: Settings) -> Iterator[psycopg.Connection]:
    with _connect(str(settings.database_url)) as conn:
        yield conn


REFUSED = [
    "UPDATE audit_events SET action = 'x'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
    "SET session_replication_role = replica",
    "DROP TABLE audit_events",
    "DROP FUNCTION audit_events_append_only()",
    "CREATE TABLE audit_events_copy (id int)",
    "CREATE TABLE public.scratch (id int)",
    "CREATE FUNCTION public.noop() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA scratch",
    "ALTER TABLE applications ADD COLUMN scratch int",
    "TRUNCATE applications",
    "UPDATE alembic_version SET version_num = 'x'",
    "CREATE ROLE scratch",
    "CREATE DATABASE scratch",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_app_role_is_refused(as_app: psycopg.Connection, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_app.execute(statement)


def test_the_app_role_is_no_superuser_and_owns_nothing(as_app: psycopg.Connection, settings: Settings) -> None:
    role = as_app.execute(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert role == (make_url(str(settings.database_url)).username, False, False, False, False, False)
    owned = as_app.execute(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = current_user::text::regrole)"
        " + (SELECT count(*) FROM pg_namespace WHERE nspowner = current_user::text::regrole)"
        " + (SELECT count(*) FROM pg_database WHERE datdba = current_user::text::regrole)"
        " + (SELECT count(*) FROM pg_proc WHERE proowner = current_user::text::regrole)"
        " + (SELECT count(*) FROM pg_type WHERE typowner = current_user::text::regrole)"
    ).fetchone()
    assert owned == (0,)
    # no role membership either (pg_database_owner, the owner role, …) through which it could act
    assert as_app.execute(
        "SELECT count(*) FROM pg_auth_members WHERE member = current_user::text::regrole"
    ).fetchone() == (0,)


def test_the_app_role_has_exactly_its_table_privileges(as_app: psycopg.Connection) -> None:
    """audit_* tables: INSERT and SELECT; alembic_version: SELECT; every other table: the four DML verbs."""
    rows = as_app.execute(
        "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)"
        " FROM information_schema.table_privileges"
        " WHERE grantee = current_user AND table_schema = current_schema() GROUP BY table_name"
    ).fetchall()
    granted = dict(rows)
    tables = [
        name
        for (name,) in as_app.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::text::regnamespace AND relkind = 'r'"
        ).fetchall()
    ]
    assert "audit_events" in tables and "applications" in tables
    for table in tables:
        if table.startswith("audit_"):
            assert granted[table] == "INSERT,SELECT", table
        elif table == "alembic_version":
            assert granted[table] == "SELECT"
        else:
            assert granted[table] == "DELETE,INSERT,SELECT,UPDATE", table


def test_the_app_role_appends_and_reads_the_audit_log(as_app: psycopg.Connection, account: Account) -> None:
    """What the server does with the log (the rest of the suite runs as this role too)."""
    (count,) = as_app.execute("SELECT count(*) FROM audit_events WHERE account_id = %s", (account.id,)).fetchone() or (
        0,
    )
    assert count >= 1  # the admin's login was recorded as this role


def test_grants_cover_tables_added_later(owner_url: str, settings: Settings) -> None:
    """Re-granting after an upgrade covers new tables: full DML on an ordinary one, INSERT/SELECT on an audit one."""
    suffix = uuid.uuid4().hex[:8]
    plain, audit_table = f"probe_{suffix}", f"audit_probe_{suffix}"
    app_role = migrate.role_of(str(settings.database_url))
    with _connect(owner_url) as owner:
        owner.execute(f"CREATE TABLE {plain} (id int)")
        owner.execute(f"CREATE TABLE {audit_table} (id int)")
    try:
        with _connect(str(settings.database_url)) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(f"INSERT INTO {plain} VALUES (1)")
        migrate.grant_app_role(owner_url, app_role)
        migrate.grant_app_role(owner_url, app_role)  # idempotent
        with _connect(str(settings.database_url)) as app:
            app.execute(f"INSERT INTO {plain} VALUES (1)")
            app.execute(f"UPDATE {plain} SET id = 2")
            app.execute(f"DELETE FROM {plain}")
            app.execute(f"INSERT INTO {audit_table} VALUES (1)")
            assert app.execute(f"SELECT id FROM {audit_table}").fetchall() == [(1,)]
            for statement in (f"UPDATE {audit_table} SET id = 2", f"DELETE FROM {audit_table}"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(statement)
    finally:
        with _connect(owner_url) as owner:
            owner.execute(f"DROP TABLE {plain}, {audit_table}")

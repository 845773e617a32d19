"""Alembic, driven from code so that an installed ``ats db upgrade`` works anywhere.

Two database roles (least privilege): migrations run as the *owner* role, which owns the schema's objects;
the server connects as the *app* role, which owns nothing and holds only the privileges
:func:`grant_app_role` gives it, re-granted after every upgrade so that new tables are covered.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"

# The audit log: every table whose name starts with this is append-only for the app role (INSERT and
# SELECT only): audit_events and any audit checkpoint/sequence table a migration adds later.
AUDIT_TABLE_PREFIX = "audit_"
# Read-only for the app role: it checks the revision, only the owner moves it.
READ_ONLY_TABLES = ("alembic_version",)


NOT_MIGRATED = "the database is not migrated: run `ats db upgrade`"


@functools.cache
def _heads_and_known() -> tuple[frozenset[str], frozenset[str]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions())


async def schema_problem(conn: Any) -> str | None:
    """Why the database on ``conn`` (an async SQLAlchemy connection) cannot serve this code, or ``None``."""
    if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
        return NOT_MIGRATED
    current = set((await conn.scalars(text("SELECT version_num FROM alembic_version"))).all())
    heads, known = _heads_and_known()
    if current == heads:
        return None
    if current - known:
        return f"the database is at revision {', '.join(sorted(current))}, newer than this ats: upgrade ats"
    return NOT_MIGRATED


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


#: The PostgreSQL advisory lock key every ``ats db upgrade`` takes (the bytes of "atsmigrt"): two at once serialize.
MIGRATION_LOCK_KEY = 0x6174736D69677274


@contextmanager
def migration_lock(database_url: str) -> Iterator[None]:
    """Hold the migration advisory lock (session-level, on a connection of its own) for the block.

    Replicas or one-shot jobs that upgrade at once wait here in turn; the later ones find the schema at head.
    The lock goes with the connection, so a killed upgrade never leaves it held.
    """
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    with migration_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


def role_of(database_url: str) -> str:
    """The role (user name) a database URL connects as."""
    return str(make_url(database_url).username or "")


def upgrade_and_grant(app_url: str, owner_url: str | None) -> None:
    """Migrate as the owner (``owner_url``, else the app's own role), then grant the app role its privileges.

    Without an owner URL, or when both URLs name the same role, there is nothing to grant.
    """
    migrator = owner_url or app_url
    # One lock around both: concurrent GRANTs on one object fail ("tuple concurrently updated").
    with migration_lock(migrator):
        command.upgrade(alembic_config(migrator), "head")
        if owner_url is not None and role_of(owner_url) != role_of(app_url):
            grant_app_role(owner_url, role_of(app_url))


def grant_app_role(owner_url: str, app_role: str) -> None:
    """As the owner, give ``app_role`` exactly what the server needs on the current schema, and nothing else.

    Every table: SELECT, INSERT, UPDATE, DELETE (never TRUNCATE, REFERENCES or TRIGGER); audit tables
    (``audit_*``): INSERT and SELECT only; ``alembic_version``: SELECT only; every sequence: USAGE and SELECT.
    Whatever the role held before is revoked first, so running this again after each upgrade is exact.
    The schema's CREATE is revoked from PUBLIC (PostgreSQL before 15 granted it).
    """
    engine = create_engine(owner_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            role = conn.scalar(text("SELECT quote_ident(:r)"), {"r": app_role})
            schema = conn.scalar(text("SELECT quote_ident(current_schema())"))
            database = conn.scalar(text("SELECT quote_ident(current_database())"))
            tables = conn.execute(
                text(
                    "SELECT quote_ident(c.relname), c.relname FROM pg_class c"
                    " WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
                    " AND c.relkind IN ('r', 'p', 'v', 'm')"
                )
            ).all()
            for statement in (
                f"GRANT CONNECT ON DATABASE {database} TO {role}",
                f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
                f"REVOKE ALL ON SCHEMA {schema} FROM {role}",
                f"GRANT USAGE ON SCHEMA {schema} TO {role}",
                f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
                f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            ):
                conn.execute(text(statement))
            for quoted, name in tables:
                if name.startswith(AUDIT_TABLE_PREFIX):
                    privileges = "SELECT, INSERT"
                elif name in READ_ONLY_TABLES:
                    privileges = "SELECT"
                else:
                    privileges = "SELECT, INSERT, UPDATE, DELETE"
                conn.execute(text(f"GRANT {privileges} ON {schema}.{quoted} TO {role}"))
    finally:
        engine.dispose()


def revision(database_url: str, message: str, rev_id: str) -> None:
    """Developer aid: autogenerate a migration against a database at head."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True, rev_id=rev_id)

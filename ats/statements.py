"""Hot-path statements, compiled once and run on the session's own psycopg connection.

A SQLAlchemy statement is built, cache-keyed and compiled on every ``session.execute``, and its rows go
through the async adapter (a greenlet switch and a new cursor per statement). On the read paths that the
bench measures, that costs more than the query itself. A :class:`Compiled` statement is rendered once per
shape for the psycopg dialect (the same text SQLAlchemy sends, ``%(name)s::TYPE`` placeholders included),
and runs in the request's transaction on the connection the session already holds, returning plain tuples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, ClauseElement, ColumnElement, Table, bindparam, insert, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


class Compiled:
    """One statement's text for the session's dialect, and its default parameters (bound literals)."""

    __slots__ = ("_defaults", "_sql", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._sql: str | None = None
        self._defaults: dict[str, Any] = {}

    def _compile(self, dialect: Dialect) -> str:
        compiled = self.statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        self._defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._sql = str(compiled)
        return self._sql

    def render(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        return self._sql or self._compile(dialect), self._defaults

    async def rows(self, session: AsyncSession, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, as tuples, in the session's transaction."""
        conn = await driver_connection(session)
        sql, defaults = self.render(session.get_bind().dialect)
        cursor = await conn.execute(sql, {**defaults, **params} if defaults else params)
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
        return rows

    async def first(self, session: AsyncSession, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = await self.rows(session, params)
        return rows[0] if rows else None

    async def execute(self, session: AsyncSession, params: Mapping[str, Any]) -> None:
        """Run it for its effect (no rows to fetch)."""
        conn = await driver_connection(session)
        sql, defaults = self.render(session.get_bind().dialect)
        await conn.execute(sql, {**defaults, **params} if defaults else params)


class RowInsert:
    """The INSERT the unit of work sends for one new ORM row (every column but computed ones), compiled once.

    For rows that are only inserted on a hot path (the apply's): the object is built as usual and stays out of the
    session (nothing to track), its values go to the same statement text the ORM would have sent.
    """

    __slots__ = ("_attributes", "_returns", "_server_filled", "compiled")

    def __init__(
        self, model: type[Any], returning: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = ()
    ) -> None:
        mapper = inspect(model)
        table = mapper.local_table
        assert isinstance(table, Table)
        columns = [c for c in table.columns if c.computed is None]
        statement = insert(table).values({c.key: bindparam(c.key) for c in columns})
        self.compiled = Compiled(statement.returning(*returning) if returning else statement)
        self._returns = bool(returning)
        self._attributes = [
            (c.key, mapper.get_property_by_column(c).key, isinstance(c.type, JSON), c.default) for c in columns
        ]
        # A flush leaves out an unset column the database fills itself; this statement names every column, so such
        # a column must be set on the object (else it would get an explicit NULL, not its default).
        self._server_filled = frozenset(c.key for c in columns if c.server_default is not None and not c.nullable)

    def params(self, row: Any) -> dict[str, Any]:
        """The row's values as psycopg binds them (JSON columns wrapped, as SQLAlchemy's JSONB type does).

        A column left unset gets its Python-side default, on the object too, as a flush would do.
        """
        values: dict[str, Any] = {}
        for key, attribute, is_json, default in self._attributes:
            value = getattr(row, attribute)
            if value is None and default is not None:
                value = default.arg if default.is_scalar else default.arg(None)
                setattr(row, attribute, value)
            elif value is None and key in self._server_filled:
                raise ValueError(f"{type(row).__name__}.{attribute} is unset: its server default would be bypassed")
            values[key] = Jsonb(value) if is_json and value is not None else value
        return values

    async def one(self, session: AsyncSession, row: Any) -> tuple[Any, ...] | None:
        """Insert ``row``; its ``RETURNING`` values, if any."""
        if self._returns:
            return await self.compiled.first(session, self.params(row))
        await self.compiled.execute(session, self.params(row))
        return None

    async def many(self, session: AsyncSession, rows: Sequence[Any]) -> None:
        """Insert ``rows`` in one ``executemany`` (one pipeline), as a flush of several rows of one table does."""
        conn = await driver_connection(session)
        sql, _ = self.compiled.render(session.get_bind().dialect)
        async with conn.cursor() as cursor:
            await cursor.executemany(sql, [self.params(row) for row in rows])


_DRIVER = "ats_driver_connection"


async def driver_connection(session: AsyncSession) -> Any:
    """The psycopg ``AsyncConnection`` under the session, its transaction begun.

    Kept for the session's current transaction only: after a commit or a rollback the session may hold another
    pooled connection, so a new transaction looks it up again (two greenlet hops, once per transaction).
    """
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction and transaction.is_active:
        return cached[1]
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


async def run_text(session: AsyncSession, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """A statement already in psycopg's form (``%(name)s``), in the session's transaction."""
    conn = await driver_connection(session)
    cursor = await conn.execute(sql, params)
    rows: list[tuple[Any, ...]] = await cursor.fetchall()
    return rows


#: The account's writer lock (§11 audit chain, §12 outbox positions), held until the transaction ends.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))"
_LOCKS = "ats_held_locks"


async def account_lock(session: AsyncSession, account_id: object) -> None:
    """Take the account's writer lock, once per transaction: the audit chain and the outbox both need it, in
    that order, and a second ``pg_advisory_xact_lock`` of a held key is only a round trip (no savepoints are
    used, so a lock taken in this transaction is held until it ends)."""
    await driver_connection(session)  # the transaction begun, so it can be told apart from the next one
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_LOCKS)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKS] = (transaction, set[str]())
    key = f"audit:{account_id}"
    if key in held[1]:
        return
    await run_text(session, LOCK_SQL, {"key": key})
    held[1].add(key)

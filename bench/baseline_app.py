"""A bare baseline for ``GET /api/v1/applications``: raw ASGI, psycopg 3, msgspec, no framework.

It runs the very statements the API runs for one page, on the same kind of connection pool and in
the same transactions, and returns the same JSON:

1. one checkout with its ping (``;``, as SQLAlchemy's ``pool_pre_ping`` sends), then in one
   transaction: the bearer-token lookup (the auth middleware opens the request's session and the
   handler continues in it), the count (not on a ``cursor`` page: the total travels in the
   cursor), the page (joined to its posting, with its sort key as ``sort_key``), the stages (once
   per process, as the app caches them), and three batch queries for the page's history, notes and
   documents, each with one array parameter (``= ANY (%(ids)s::UUID[])``); commit.

The SQL below is the text SQLAlchemy renders for the app (captured with a ``before_cursor_execute``
listener); ``python -m bench list`` checks it statement by statement against the app's on every run,
so a change on either side shows up as a failed check rather than as an unfair ratio.

Serve it with ``uvicorn bench.baseline_app:app`` and ``BENCH_DATABASE_URL`` (a libpq URL).
Supported: ``job_id``, ``status``, ``search``, ``orderby``, ``order``, ``page``, ``per_page``, and
``cursor`` for ``orderby=date``; callers with an account-wide read scope (not hiring managers).
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# The response structs are the app's own read model: plain msgspec structs, no framework in them.
from ats.services.application_views import RELATED_SQL, DocumentRow
from ats.views import (
    Address,
    ApplicationView,
    Candidate,
    Consent,
    HistoryEntry,
    JobRef,
    NoteView,
    Ref,
    document_url,
)

STATUSES = ("new", "screening", "interview", "offer", "hired", "rejected", "withdrawn")
FULL_SCOPE_ROLES = ("admin", "recruiter", "compliance")
API_BASE = "/api/v1"
MAX_PER_PAGE = 100

# ---- the statements (as SQLAlchemy renders them for the psycopg dialect) ----

PING_SQL = ";"
AUTH_SQL = (
    "SELECT auth_tokens.id, users.id AS id_1, users.account_id, users.role, users.name \n"
    "FROM auth_tokens JOIN users ON users.id = auth_tokens.user_id \n"
    "WHERE auth_tokens.token_hash = %(token_hash_1)s::VARCHAR AND auth_tokens.kind = %(kind_1)s::VARCHAR "
    "AND auth_tokens.revoked_at IS NULL AND auth_tokens.expires_at > %(expires_at_1)s::TIMESTAMP WITH TIME ZONE "
    "AND users.active IS true"
)
STAGES_SQL = (
    "SELECT stages.status, stages.id, stages.name \nFROM stages \nWHERE stages.account_id = %(account_id_1)s::UUID"
)
APPLICATION_COLUMNS = [
    "id",
    "account_id",
    "job_id",
    "status",
    "status_rank",
    "previous_status",
    "status_changed_at",
    "name",
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "cover_letter",
    "custom_fields",
    "source",
    "consent_privacy_policy",
    "consent_privacy_policy_version",
    "consent_talent_pool",
    "consented_at",
    "consent_ip",
    "legal_hold",
    "rating_total",
    "rating_count",
    "version",
    "created_by",
    "created_at",
    "updated_at",
]
PAGE_SELECT = (  # {key}: the sort key, selected too (a cursor takes its value from it)
    "SELECT "
    + ", ".join(f"applications.{c}" for c in APPLICATION_COLUMNS)
    + ", job_postings.title AS job_title, {key} AS sort_key \n"
    + "FROM applications JOIN job_postings ON job_postings.id = applications.job_id \n"
)
JOB_TITLE, SORT_VALUE = len(APPLICATION_COLUMNS), len(APPLICATION_COLUMNS) + 1  # row positions
COUNT_SELECT = "SELECT count(*) AS count_1 \nFROM applications \n"
SORT_KEYS = {
    "date": "applications.created_at",
    "name": "lower(applications.name)",
    "status": "applications.status_rank",
}
# The app's one statement for a page's history, notes and documents, in psycopg's parameter style.
RELATED = RELATED_SQL.text.replace(":ids", "%(ids)s")
HISTORY = msgspec.json.Decoder(list[HistoryEntry])
NOTES = msgspec.json.Decoder(list[NoteView])
DOCUMENTS = msgspec.json.Decoder(list[DocumentRow])


class BadQuery(Exception):
    pass


class Filters(msgspec.Struct, kw_only=True):
    job_id: uuid.UUID | None = None
    statuses: list[str] = []
    search: str | None = None
    orderby: str = "date"
    order: str = "desc"
    page: int = 1
    per_page: int = 20
    cursor: str | None = None


def parse_query(query_string: bytes) -> Filters:
    """The list's query parameters (a subset; anything else is refused so no request is mis-served)."""
    f = Filters()
    try:
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key == "job_id":
                f.job_id = uuid.UUID(value)
            elif key == "status":
                f.statuses = [s.strip() for s in value.split(",") if s.strip()]
                if any(s not in STATUSES for s in f.statuses):
                    raise BadQuery("status")
            elif key == "search":
                f.search = value or None
            elif key == "orderby" and value in SORT_KEYS:
                f.orderby = value
            elif key == "order" and value in ("asc", "desc"):
                f.order = value
            elif key == "page":
                f.page = int(value)
            elif key == "per_page":
                f.per_page = int(value)
            elif key == "cursor":
                f.cursor = value
            else:
                raise BadQuery(key)
    except ValueError as exc:
        raise BadQuery(str(exc)) from None
    if f.page < 1 or not 1 <= f.per_page <= MAX_PER_PAGE:
        raise BadQuery("paging")
    if f.cursor and f.orderby != "date":
        raise BadQuery("cursor (the baseline pages by cursor only for orderby=date)")
    return f


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Cursor(msgspec.Struct, array_like=True):
    orderby: str
    order: str
    value: Any
    id: uuid.UUID
    page: int
    total: int  # the count taken on the first page; cursor pages do not recount


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        return msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()), type=Cursor)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise BadQuery("cursor") from None


class Statements(msgspec.Struct):
    """One list request's count (``None`` on a cursor page, whose ``total`` is the cursor's) and page."""

    count_sql: str | None
    count_params: dict[str, Any]
    page_sql: str
    page_params: dict[str, Any]
    page: int
    total: int | None


def list_statements(f: Filters, account_id: uuid.UUID) -> Statements:
    """The count and the page statement with their parameters, the page number, a cursor's total."""
    where = ["applications.account_id = %(account_id_1)s::UUID"]
    params: dict[str, Any] = {"account_id_1": account_id}
    if f.job_id is not None:
        where.append("applications.job_id = %(job_id_1)s::UUID")
        params["job_id_1"] = f.job_id
    if f.statuses:
        names = [f"status_1_{i}" for i in range(1, len(f.statuses) + 1)]
        where.append("applications.status IN (" + ", ".join(f"%({n})s::VARCHAR" for n in names) + ")")
        params.update(zip(names, f.statuses, strict=True))
    if f.search:
        where.append(
            "lower(applications.name || %(name_1)s::VARCHAR || applications.email) "
            "LIKE lower(%(lower_1)s::VARCHAR) ESCAPE '\\'"
        )
        params["name_1"] = " "
        params["lower_1"] = "%" + escape_like(f.search.strip()) + "%"  # lower-cased by PostgreSQL
    where_sql = "WHERE " + " AND ".join(where)
    count_sql: str | None = COUNT_SELECT + where_sql
    total = None

    page_params = dict(params)
    key = SORT_KEYS[f.orderby]
    direction = "DESC" if f.order == "desc" else "ASC"
    page = f.page
    anonymous = 0

    def param(value: Any) -> str:
        nonlocal anonymous
        anonymous += 1
        page_params[f"param_{anonymous}"] = value
        return f"param_{anonymous}"

    page_where = where_sql
    if f.cursor:
        cursor = decode_cursor(f.cursor)
        if (cursor.orderby, cursor.order) != (f.orderby, f.order):
            raise BadQuery("cursor")
        try:
            boundary = datetime.fromisoformat(str(cursor.value))
        except ValueError:
            raise BadQuery("cursor") from None
        op = "<" if f.order == "desc" else ">"
        value_name, id_name = param(boundary), param(cursor.id)
        page_where += (
            f" AND ({key}, applications.id) {op} (%({value_name})s::TIMESTAMP WITH TIME ZONE, %({id_name})s::UUID)"
        )
        page, total, count_sql = cursor.page, cursor.total, None
        limit = f" \n LIMIT %({param(f.per_page + 1)})s::INTEGER"
    else:
        limit_name = param(f.per_page + 1)
        offset_name = param((page - 1) * f.per_page)
        limit = f" \n LIMIT %({limit_name})s::INTEGER OFFSET %({offset_name})s::INTEGER"
    select = PAGE_SELECT.format(key=key)
    page_sql = select + page_where + f" ORDER BY {key} {direction}, applications.id {direction}" + limit
    return Statements(count_sql, params, page_sql, page_params, page, total)


# ---- the response (the same field names and order as ats.views and api.schemas) ----


class PageMeta(msgspec.Struct):
    total: int
    per_page: int
    current_page: int
    total_pages: int
    next_cursor: str | None = None


class Page(msgspec.Struct):
    data: list[ApplicationView]
    meta: PageMeta


ENCODER = msgspec.json.Encoder()

# ---- the ASGI app ----


async def _ping(conn: AsyncConnection[Any]) -> None:
    """What SQLAlchemy's ``pool_pre_ping`` sends at every checkout, outside a transaction."""
    await conn.set_autocommit(True)
    try:
        await conn.execute(PING_SQL)
    finally:
        await conn.set_autocommit(False)


class Baseline:
    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None
        self.stages: dict[uuid.UUID, dict[str, tuple[uuid.UUID, str]]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].rstrip("/") != f"{API_BASE}/applications" or scope["method"] != "GET":
            await respond(send, 404, b'{"status":404}')
            return
        status, body = await self.list_applications(scope)
        await respond(send, status, body)

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                url = os.environ["BENCH_DATABASE_URL"]
                # The app engine's pool (``bench list`` passes its sizes), a ping at every checkout.
                size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
                overflow = int(os.environ.get("BENCH_POOL_OVERFLOW", str(max(2, size // 4))))
                self.pool = AsyncConnectionPool(
                    url,
                    min_size=size,
                    max_size=size + overflow,
                    kwargs={"connect_timeout": 3, "application_name": "ats-baseline", "options": "-c timezone=UTC"},
                    check=_ping,
                    open=False,
                )
                await self.pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def authenticate(self, conn: AsyncConnection[Any], scope: dict[str, Any]) -> tuple[uuid.UUID, str] | None:
        """The token lookup, on the request's connection (its transaction goes on)."""
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        scheme, _, secret = header.decode("latin-1").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret.startswith("ats_at_"):
            return None
        params = {
            "token_hash_1": hashlib.sha256(secret.encode()).hexdigest(),
            "kind_1": "access",
            "expires_at_1": datetime.now(UTC),
        }
        found = await (await conn.execute(AUTH_SQL, params)).fetchone()
        if found is None:
            return None
        return found[2], found[3]

    async def list_applications(self, scope: dict[str, Any]) -> tuple[int, bytes]:
        """One checkout: the token lookup, then the list, in one transaction (committed on success)."""
        assert self.pool is not None
        async with self.pool.connection() as conn:
            principal = await self.authenticate(conn, scope)
            if principal is None:
                await conn.rollback()
                return 401, b'{"status":401,"code":"unauthorized"}'
            account_id, role = principal
            if role not in FULL_SCOPE_ROLES:
                await conn.rollback()
                return 403, b'{"status":403,"detail":"the baseline serves account-wide roles only"}'
            try:
                f = parse_query(scope["query_string"])
                q = list_statements(f, account_id)
            except BadQuery as exc:
                await conn.rollback()
                return 400, msgspec.json.encode({"status": 400, "detail": str(exc)})
            total = q.total
            if q.count_sql is not None:
                total = (await (await conn.execute(q.count_sql, q.count_params)).fetchone() or (0,))[0]
            assert total is not None
            rows = await (await conn.execute(q.page_sql, q.page_params)).fetchall()
            more = len(rows) > f.per_page
            rows = rows[: f.per_page]
            views = await self.build_views(conn, account_id, rows) if rows else []
        page = q.page
        next_cursor = None
        if more and rows:
            last = rows[-1]
            value = _cursor_value(f.orderby, last[SORT_VALUE])
            next_cursor = encode_cursor(Cursor(f.orderby, f.order, value, last[0], page + 1, total))
        total_pages = max(1, math.ceil(total / f.per_page)) if total else 0
        return 200, ENCODER.encode(Page(views, PageMeta(total, f.per_page, page, total_pages, next_cursor)))

    async def build_views(
        self, conn: AsyncConnection[Any], account_id: uuid.UUID, rows: list[Any]
    ) -> list[ApplicationView]:
        stages = self.stages.get(account_id)
        if stages is None:
            found = await (await conn.execute(STAGES_SQL, {"account_id_1": account_id})).fetchall()
            stages = {status: (stage_id, name) for status, stage_id, name in found}
            self.stages[account_id] = stages
        params = {"ids": [r[0] for r in rows]}
        related = {
            app_id: (
                HISTORY.decode(history),
                NOTES.decode(notes),
                [d.view(document_url(API_BASE, app_id, d.id)) for d in DOCUMENTS.decode(documents)],
            )
            for app_id, history, notes, documents in await (await conn.execute(RELATED, params)).fetchall()
        }
        views = []
        for r in rows:
            app_id = r[0]
            stage_id, stage_name = stages[r[3]]
            rating_total, rating_count = r[26], r[27]
            views.append(
                ApplicationView(
                    id=app_id,
                    job=JobRef(r[2], r[JOB_TITLE]),
                    status=r[3],
                    stage=Ref(stage_id, stage_name),
                    status_history=related[app_id][0],
                    candidate=Candidate(r[7], r[8], r[9], r[10], r[11], r[12], Address(r[13], r[14], r[15], r[16])),
                    documents=related[app_id][2],
                    cover_letter=r[17],
                    custom_fields=r[18],
                    rating=round(rating_total / rating_count, 2) if rating_count else None,
                    rating_count=rating_count,
                    notes=related[app_id][1],
                    consent=Consent(r[20], r[21], r[22], r[23], r[24]),
                    source=r[19],
                    legal_hold=r[25],
                    version=r[28],
                    created_at=r[30],
                    updated_at=r[31],
                )
            )
        return views


def _cursor_value(orderby: str, sort_key: Any) -> Any:
    """The sort key as PostgreSQL computed it (the ``sort_key`` column)."""
    return sort_key.isoformat() if orderby == "date" else sort_key


async def respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = Baseline()

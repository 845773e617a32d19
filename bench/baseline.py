"""The bare baseline: raw ASGI, psycopg 3, msgspec, boto3, no framework, for every benchmarked path.

One app, served by ``uvicorn bench.baseline:app`` with ``BENCH_DATABASE_URL`` (a libpq URL), the
``ATS_S3_*`` variables and ``BENCH_POOL_SIZE``/``BENCH_POOL_OVERFLOW`` (the app engine's pool: a
ping at every checkout, ``;``, as SQLAlchemy's ``pool_pre_ping`` sends):

``POST /public/v1/applicants?include=applicant_documents`` (``bench apply``)
    decode the body with msgspec into typed structs (unknown fields refused), check the email, each
    extension and the consent; ``HeadBucket`` in a worker thread unless one succeeded in the last
    ``BENCH_S3_CHECK_MAX_AGE`` s (``bench apply`` passes the app's value; ``BENCH_S3_PING=0``
    leaves it out, a diagnostic); then one transaction: the posting ``FOR SHARE``, the application
    (its unique index on posting and ``lower(email)`` is the duplicate check: a violation rolls
    back and answers ``422``), its first history entry, the audit event as ``ats.audit.record``
    writes it (advisory lock, then one INSERT … SELECT from the chain head), both document rows in one
    ``executemany``, the account's stages (once per process, as the app caches them); commit; one
    ``generate_presigned_post`` per document; the API's JSON:API answer.
``GET /api/v1/applications`` (``bench list``)
    one checkout, then in one transaction: the bearer-token lookup (the auth middleware opens the
    request's session and the handler continues in it), the count (not on a ``cursor`` page: the
    total travels in the cursor), the page (joined to its posting, with its sort key as
    ``sort_key``), the stages (once per process), and one statement for the page's history, notes
    and documents (``= ANY (%(ids)s::UUID[])``); commit. Supported: ``job_id``, ``status``,
    ``search``, ``orderby``, ``order``, ``page``, ``per_page``, and ``cursor`` for ``orderby=date``;
    callers with an account-wide read scope (not hiring managers).
``GET /stream?prefix=P`` (``bench gdpr``)
    every S3 object under ``P`` (sorted by key) as one chunked body, read in ``BENCH_CHUNK``-byte
    chunks (``bench gdpr`` passes the app's ZIP read size), one worker-thread hop per chunk, as the
    API's export does; no ZIP. The ceiling of one more HTTP hop on these CPUs, whatever the server does.

The SQL is the text SQLAlchemy renders for the app (captured in-process at psycopg's
``AsyncCursor.execute``, whatever sends it); ``bench apply``, ``bench list`` and ``bench one`` compare it
with the app's statements on every run, so a change on either side shows up as a failed check rather
than as an unfair ratio.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import boto3
import msgspec
from botocore.config import Config
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

# The list's response structs are the app's own read model: plain msgspec structs, no framework in them.
from ats import audit, outbox, statements
from ats.candidate_rules import normalise_phone
from ats.errors import TransitionNotAllowed
from ats.pipeline import Status, check_move
from ats.services.application_views import RELATED_SQL, DocumentRow
from ats.views import Address, ApplicationView, Candidate, Consent, HistoryEntry, JobRef, NoteView, Ref, document_url

ENCODER = msgspec.json.Encoder()

# ---- the statements both paths run (as SQLAlchemy renders them for the psycopg dialect) ----

PING_SQL = ";"
STAGES_SQL = (
    "SELECT stages.status, stages.id, stages.name \nFROM stages \nWHERE stages.account_id = %(account_id_1)s::UUID"
)

# ==== POST /public/v1/applicants ====
JSONAPI = b"application/vnd.api+json"
GENESIS = "0" * 64
STAGING_GRACE = timedelta(minutes=5)  # ats.services.documents.STAGING_GRACE
EXTENSIONS = ("pdf", "doc", "docx", "jpg", "jpeg", "png")
MIME_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

JOB_SQL = (
    "SELECT job_postings.id, job_postings.account_id, job_postings.title, job_postings.description, "
    "job_postings.location, job_postings.department, job_postings.employment_type, job_postings.status, "
    "job_postings.closes_at, job_postings.hiring_team, job_postings.application_questions, "
    "job_postings.created_at, job_postings.updated_at \nFROM job_postings \n"
    "WHERE job_postings.id = %(id_1)s::UUID AND job_postings.status = %(status_1)s::VARCHAR AND "
    "(job_postings.closes_at IS NULL OR job_postings.closes_at > %(closes_at_1)s::TIMESTAMP WITH TIME ZONE) "
    "FOR SHARE"
)
CANDIDATE_SQL = (  # the person, found by (account_id, lower(email)) or inserted: ats.services.candidates.attach
    "INSERT INTO candidates (id, account_id, name, salutation, first_name, last_name, email, emails, "
    "phones, street, postal_code, city, country, source, consent_privacy_policy, "
    "consent_privacy_policy_version, consent_talent_pool, consented_at, consent_ip, created_at, "
    "updated_at) VALUES (%(id)s::UUID, %(account_id)s::UUID, %(name)s::VARCHAR, %(salutation)s::VARCHAR, "
    "%(first_name)s::VARCHAR, %(last_name)s::VARCHAR, %(email)s::VARCHAR, %(emails)s::TEXT[], "
    "%(phones)s::TEXT[], %(street)s::VARCHAR, %(postal_code)s::VARCHAR, %(city)s::VARCHAR, "
    "%(country)s::VARCHAR, %(source)s::VARCHAR, %(consent_privacy_policy)s, "
    "%(consent_privacy_policy_version)s::VARCHAR, %(consent_talent_pool)s, %(consented_at)s::TIMESTAMP "
    "WITH TIME ZONE, %(consent_ip)s::VARCHAR, %(created_at)s::TIMESTAMP WITH TIME ZONE, "
    "%(updated_at)s::TIMESTAMP WITH TIME ZONE) ON CONFLICT (account_id, lower(email)) DO UPDATE SET "
    "phones = CASE WHEN (excluded.phones <@ candidates.phones) THEN candidates.phones ELSE "
    "candidates.phones || excluded.phones END, consent_privacy_policy = CASE WHEN (excluded.consented_at "
    "IS NOT NULL) THEN excluded.consent_privacy_policy ELSE candidates.consent_privacy_policy END, "
    "consent_privacy_policy_version = CASE WHEN (excluded.consented_at IS NOT NULL) THEN "
    "excluded.consent_privacy_policy_version ELSE candidates.consent_privacy_policy_version END, "
    "consent_talent_pool = CASE WHEN (excluded.consented_at IS NOT NULL) THEN "
    "excluded.consent_talent_pool ELSE candidates.consent_talent_pool END, consented_at = CASE WHEN "
    "(excluded.consented_at IS NOT NULL) THEN excluded.consented_at ELSE candidates.consented_at END, "
    "consent_ip = CASE WHEN (excluded.consented_at IS NOT NULL) THEN excluded.consent_ip ELSE "
    "candidates.consent_ip END, updated_at = excluded.updated_at "
    "RETURNING coalesce(candidates.merged_into_id, candidates.id) AS id, xmax = 0 AS inserted"
)
APPLICATION_SQL = (
    "INSERT INTO applications (id, account_id, job_id, candidate_id, status, previous_status, status_changed_at, "
    "name, salutation, first_name, last_name, email, phone, street, postal_code, city, country, cover_letter, "
    "custom_fields, source, utm_source, utm_medium, utm_campaign, referrer_id, consent_privacy_policy, "
    "consent_privacy_policy_version, consent_talent_pool, "
    "consented_at, consent_ip, legal_hold, rating_total, rating_count, version, created_by, created_at, "
    "updated_at) VALUES (%(id)s::UUID, %(account_id)s::UUID, %(job_id)s::UUID, %(candidate_id)s::UUID, "
    "%(status)s::VARCHAR, "
    "%(previous_status)s::VARCHAR, %(status_changed_at)s::TIMESTAMP WITH TIME ZONE, %(name)s::VARCHAR, "
    "%(salutation)s::VARCHAR, %(first_name)s::VARCHAR, %(last_name)s::VARCHAR, %(email)s::VARCHAR, "
    "%(phone)s::VARCHAR, %(street)s::VARCHAR, %(postal_code)s::VARCHAR, %(city)s::VARCHAR, "
    "%(country)s::VARCHAR, %(cover_letter)s::VARCHAR, %(custom_fields)s::JSONB, %(source)s::VARCHAR, "
    "%(utm_source)s::VARCHAR, %(utm_medium)s::VARCHAR, %(utm_campaign)s::VARCHAR, %(referrer_id)s::UUID, "
    "%(consent_privacy_policy)s, %(consent_privacy_policy_version)s::VARCHAR, %(consent_talent_pool)s, "
    "%(consented_at)s::TIMESTAMP WITH TIME ZONE, %(consent_ip)s::VARCHAR, %(legal_hold)s, "
    "%(rating_total)s::INTEGER, %(rating_count)s::INTEGER, %(version)s::INTEGER, %(created_by)s::UUID, "
    "%(created_at)s::TIMESTAMP WITH TIME ZONE, %(updated_at)s::TIMESTAMP WITH TIME ZONE) "
    "RETURNING applications.status_rank"
)
HISTORY_SQL = (
    "INSERT INTO status_history (id, account_id, application_id, status, from_status, changed_at, "
    "changed_by_id, changed_by_name, note, reason) VALUES (%(id)s::UUID, %(account_id)s::UUID, "
    "%(application_id)s::UUID, %(status)s::VARCHAR, %(from_status)s::VARCHAR, "
    "%(changed_at)s::TIMESTAMP WITH TIME ZONE, %(changed_by_id)s::UUID, %(changed_by_name)s::VARCHAR, "
    "%(note)s::VARCHAR, %(reason)s::VARCHAR)"
)
# The audit append as ats.audit.record runs it: the account's lock, then one INSERT … SELECT from the chain head.
AUDIT_LOCK_SQL = statements.LOCK_SQL
AUDIT_APPEND_SQL = audit.APPEND_SQL
DOCUMENT_SQL = (
    "INSERT INTO documents (id, account_id, application_id, type, name, extension, filename, mime_type, "
    "size, upload_status, storage_key, upload_token_hash, created_at, uploaded_at, staged_until) VALUES "
    "(%(id)s::UUID, %(account_id)s::UUID, %(application_id)s::UUID, %(type)s::VARCHAR, %(name)s::VARCHAR, "
    "%(extension)s::VARCHAR, %(filename)s::VARCHAR, %(mime_type)s::VARCHAR, %(size)s::BIGINT, "
    "%(upload_status)s::VARCHAR, %(storage_key)s::VARCHAR, %(upload_token_hash)s::VARCHAR, "
    "%(created_at)s::TIMESTAMP WITH TIME ZONE, %(uploaded_at)s::TIMESTAMP WITH TIME ZONE, "
    "%(staged_until)s::TIMESTAMP WITH TIME ZONE)"
)
# ats.outbox.append_many: the account's next positions and every event of the transaction, in one statement.
OUTBOX_SQL = outbox.APPEND_SQL
# One apply with documents, in order, for the statement check (the stages only on a cold cache).
STATEMENTS = (
    JOB_SQL,
    CANDIDATE_SQL,
    APPLICATION_SQL,
    HISTORY_SQL,
    DOCUMENT_SQL,
    AUDIT_LOCK_SQL,
    AUDIT_APPEND_SQL,
    OUTBOX_SQL,
)


async def append_events(
    conn: AsyncConnection[Any], account_id: uuid.UUID, events: list[tuple[str, Any, Any, Any, dict[str, Any]]]
) -> None:
    """A transaction's events (type, application, job, candidate, data) in one statement, as
    ``ats.outbox.append_many`` writes them (the account's lock is held)."""
    events_json = [
        {"id": uuid.uuid4(), "type": e[0], "application_id": e[1], "job_id": e[2], "candidate_id": e[3], "data": e[4]}
        for e in events
    ]
    await conn.execute(OUTBOX_SQL, outbox.append_params(account_id, datetime.now(UTC), events_json))


# ---- the request body ----


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True):
    extension: str
    name: str
    type: str = "other"


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    privacy_policy: bool
    privacy_policy_version: str
    talent_pool: bool = False


class AttributesIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    email: str
    job_posting_id: uuid.UUID
    consent: ConsentIn
    documents: list[DocumentIn] = []
    phone: str | None = None
    cover_letter: str | None = None
    custom_fields: dict[str, Any] = {}
    source: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None


class DataIn(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    attributes: AttributesIn


class ApplyIn(msgspec.Struct, forbid_unknown_fields=True):
    data: DataIn


DECODER = msgspec.json.Decoder(ApplyIn)


class Invalid(Exception):
    pass


def parse(raw: bytes) -> AttributesIn:
    try:
        body = DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Invalid(str(exc)) from None
    attrs = body.data.attributes
    attrs.name, attrs.email = attrs.name.strip(), attrs.email.strip()
    if body.data.type != "applicant" or not attrs.name or not EMAIL.match(attrs.email):
        raise Invalid("type, name or email")
    if not attrs.consent.privacy_policy or not attrs.consent.privacy_policy_version.strip():
        raise Invalid("consent")
    if len(attrs.documents) > 10:
        raise Invalid("documents")
    for doc in attrs.documents:
        doc.extension = doc.extension.lower().lstrip(".")
        if doc.extension not in EXTENSIONS or not doc.name.strip():
            raise Invalid("document")
    return attrs


# ---- the audit chain, as ats.audit computes it ----


def _json_default(value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def safe_filename(name: str, extension: str) -> str:
    text = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", "_", name).strip(" ._-")[:140]
    return f"{text or 'document'}.{extension}"


# ==== GET /api/v1/applications ====


STATUSES = ("new", "screening", "interview", "offer", "hired", "rejected", "withdrawn")
FULL_SCOPE_ROLES = ("admin", "recruiter", "compliance")
API_BASE = "/api/v1"
MAX_PER_PAGE = 100

AUTH_SQL = (
    "SELECT auth_tokens.id, users.id AS id_1, users.account_id, users.role, users.name \n"
    "FROM auth_tokens JOIN users ON users.id = auth_tokens.user_id \n"
    "WHERE auth_tokens.token_hash = %(token_hash_1)s::VARCHAR AND auth_tokens.kind = %(kind_1)s::VARCHAR "
    "AND auth_tokens.revoked_at IS NULL AND auth_tokens.expires_at > %(expires_at_1)s::TIMESTAMP WITH TIME ZONE "
    "AND users.active IS true"
)
APPLICATION_COLUMNS = [
    "id",
    "account_id",
    "job_id",
    "candidate_id",
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
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "referrer_id",
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
COL = {name: i for i, name in enumerate(APPLICATION_COLUMNS)}
COUNT_SELECT = "SELECT count(*) AS count_1 \nFROM applications \n"

# ==== GET /api/v1/applications/{id}, PUT /api/v1/applications/{id}/status ====
ONE_SQL = (
    "SELECT "
    + ", ".join(f"applications.{c}" for c in APPLICATION_COLUMNS)
    + ", job_postings.title AS job_title \n"
    + "FROM applications JOIN job_postings ON job_postings.id = applications.job_id \n"
    + "WHERE applications.id = %(id_1)s::UUID AND applications.account_id = %(account_id_1)s::UUID"
)
BY_ID_SQL = ONE_SQL.rsplit(" AND ", 1)[0]  # an event's payload: the application by id (access already checked)
LOCK_ONE_SQL = (
    "SELECT "
    + ", ".join(f"applications.{c}" for c in APPLICATION_COLUMNS)
    + " \nFROM applications \n"
    + "WHERE applications.id = %(id_1)s::UUID AND applications.account_id = %(account_id_1)s::UUID "
    + "FOR UPDATE OF applications"
)
MOVE_SQL = (
    "UPDATE applications SET status=%(status)s::VARCHAR, previous_status=%(previous_status)s::VARCHAR, "
    "status_changed_at=%(status_changed_at)s::TIMESTAMP WITH TIME ZONE, version=%(version)s::INTEGER, "
    "updated_at=%(updated_at)s::TIMESTAMP WITH TIME ZONE WHERE applications.id = %(applications_id)s::UUID"
)
ONE_PATH = re.compile(r"^/api/v1/applications/([0-9a-fA-F-]{36})(/status)?$")


class MoveIn(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    note: str | None = None
    reason: str | None = None


MOVE = msgspec.json.Decoder(MoveIn)
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


# ==== the ASGI app ====


async def _ping(conn: AsyncConnection[Any]) -> None:
    """What SQLAlchemy's ``pool_pre_ping`` sends at every checkout, outside a transaction."""
    await conn.set_autocommit(True)
    try:
        await conn.execute(PING_SQL)
    finally:
        await conn.set_autocommit(False)


def s3_client() -> Any:
    """boto3 with the API's client configuration (``storage.client.make_client``)."""
    return boto3.client(
        "s3",
        region_name=os.environ.get("ATS_S3_REGION", "us-east-1"),
        endpoint_url=os.environ["ATS_S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["ATS_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["ATS_S3_SECRET_ACCESS_KEY"],
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=32,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def open_pool() -> AsyncConnectionPool:
    """The app engine's pool (the bench passes its size and overflow), a ping at every checkout."""
    size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    overflow = int(os.environ.get("BENCH_POOL_OVERFLOW", "5"))
    return AsyncConnectionPool(
        os.environ["BENCH_DATABASE_URL"],
        min_size=size,
        max_size=size + overflow,
        kwargs={"connect_timeout": 3, "application_name": "ats-baseline", "options": "-c timezone=UTC"},
        check=_ping,
        open=False,
    )


class Baseline:
    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None
        self.stages_by_account: dict[uuid.UUID, dict[str, tuple[uuid.UUID, str]]] = {}
        self.s3: Any = None
        self.bucket = os.environ.get("ATS_S3_BUCKET", "ats-documents")
        self.ping_s3 = os.environ.get("BENCH_S3_PING", "1") != "0"
        self.outbox_on = os.environ.get("BENCH_OUTBOX", "1") != "0"  # 0: what the outbox's statements cost
        self.s3_max_age = float(os.environ.get("BENCH_S3_CHECK_MAX_AGE", "2.0"))
        self.s3_ok_at = float("-inf")  # monotonic time of the last successful HeadBucket
        self.max_bytes = int(os.environ.get("ATS_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
        self.url_ttl = 3600
        self.chunk = int(os.environ.get("BENCH_CHUNK", str(1024 * 1024)))
        # anyio's default thread limiter (what the API's to_thread calls use) is 40 threads.
        self.threads = ThreadPoolExecutor(max_workers=40, thread_name_prefix="s3")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/health/live":
            await respond(send, 200, b'{"status":"ok"}')
        elif path == "/public/v1/applicants" and method == "POST":
            status, body, headers = await self.apply(scope, await read_body(receive))
            await respond(send, status, body, JSONAPI, headers)
        elif path.rstrip("/") == f"{API_BASE}/applications" and method == "GET":
            await respond(send, *await self.list_applications(scope))
        elif (one := ONE_PATH.match(path)) and method == ("PUT" if one.group(2) else "GET"):
            app_id = uuid.UUID(one.group(1))
            if one.group(2):
                await respond(send, *await self.move(scope, app_id, await read_body(receive)))
            else:
                await respond(send, *await self.get_one(scope, app_id))
        elif path == "/stream" and method == "GET":
            await self.stream(scope, send)
        else:
            await respond(send, 404, b'{"status":404}')

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.s3 = s3_client()
                self.pool = open_pool()
                await self.pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                self.threads.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def stages(self, conn: AsyncConnection[Any], account_id: uuid.UUID) -> dict[str, tuple[uuid.UUID, str]]:
        """The account's stages by status, read once per process (as the app caches them)."""
        stages = self.stages_by_account.get(account_id)
        if stages is None:
            found = await (await conn.execute(STAGES_SQL, {"account_id_1": account_id})).fetchall()
            stages = {status: (stage_id, name) for status, stage_id, name in found}
            self.stages_by_account[account_id] = stages
        return stages

    # ---- POST /public/v1/applicants ----

    async def apply(self, scope: dict[str, Any], raw: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        try:
            attrs = parse(raw)
        except Invalid as exc:
            return 422, ENCODER.encode({"errors": [{"status": "422", "detail": str(exc)}]}), []
        client_ip = scope["client"][0] if scope.get("client") else "0.0.0.0"
        if attrs.documents and self.ping_s3 and time.monotonic() - self.s3_ok_at >= self.s3_max_age:
            await asyncio.get_running_loop().run_in_executor(self.threads, self.head_bucket)
        assert self.pool is not None
        async with self.pool.connection() as conn:
            result = await self.write(conn, attrs, client_ip)
        if result is None:
            return 422, b'{"errors":[{"status":"422","code":"not_open_or_duplicate"}]}', []
        app_id, _, created_at, stage_id, docs = result
        included = []
        for doc in docs:
            upload = doc.pop("_upload")
            upload["upload_token"] = doc.pop("_token")
            included.append(
                {
                    "id": str(doc["id"]),
                    "type": "applicant_document",
                    "attributes": {
                        "applicant_id": str(app_id),
                        "extension": doc["extension"],
                        "name": doc["name"],
                        "upload_status": "uploading",
                    },
                    "meta": {"upload": upload},
                }
            )
        body = {
            "data": {
                "id": str(app_id),
                "type": "applicant",
                "attributes": {
                    "application_stage_id": str(stage_id),
                    "created_at": created_at,
                    "email": attrs.email,
                    "name": attrs.name,
                },
                "relationships": {
                    "applicant_documents": {"data": [{"id": str(d["id"]), "type": "applicant_document"} for d in docs]}
                },
                "meta": {},
                "links": {"self": f"{API_BASE}/applicants/{app_id}"},
            },
            "included": included,
        }
        # The API's Location names links.self (it reads it back from the encoded body, as here).
        encoded = ENCODER.encode(body)
        return 201, encoded, [(b"location", msgspec.json.decode(encoded)["data"]["links"]["self"].encode())]

    def head_bucket(self) -> None:
        """``HeadBucket``; a success is trusted for ``s3_max_age`` s (a failure raises and is not cached)."""
        self.s3.head_bucket(Bucket=self.bucket)
        self.s3_ok_at = time.monotonic()

    def presign(self, key: str, content_type: str) -> dict[str, Any]:
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.url_ttl)
        post = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, self.max_bytes]],
            ExpiresIn=self.url_ttl,
        )
        return {
            "url": str(post["url"]),
            "fields": {str(k): str(v) for k, v in post["fields"].items()},
            "expires_at": expires_at,
            "max_bytes": self.max_bytes,
        }

    async def write(
        self, conn: AsyncConnection[Any], attrs: AttributesIn, client_ip: str
    ) -> tuple[uuid.UUID, uuid.UUID, datetime, uuid.UUID, list[dict[str, Any]]] | None:
        """The transaction: the same statements, in the same order, as the API's apply."""
        now = datetime.now(UTC)
        job = await (
            await conn.execute(JOB_SQL, {"id_1": attrs.job_posting_id, "status_1": "published", "closes_at_1": now})
        ).fetchone()
        if job is None or job[10]:  # no posting, or questions the baseline does not check
            await conn.rollback()
            return None
        account_id: uuid.UUID = job[1]
        email = attrs.email
        app_id = uuid.uuid4()
        now = datetime.now(UTC)
        phone = normalise_phone(attrs.phone)
        person = await (
            await conn.execute(
                CANDIDATE_SQL,
                {
                    "id": uuid.uuid4(),
                    "account_id": account_id,
                    "name": attrs.name,
                    "salutation": None,
                    "first_name": None,
                    "last_name": None,
                    "email": email,
                    "emails": [email],
                    "phones": [phone] if phone else [],
                    "street": None,
                    "postal_code": None,
                    "city": None,
                    "country": None,
                    "source": attrs.source,
                    "consent_privacy_policy": True,
                    "consent_privacy_policy_version": attrs.consent.privacy_policy_version,
                    "consent_talent_pool": attrs.consent.talent_pool,
                    "consented_at": now,
                    "consent_ip": client_ip,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        ).fetchone()
        assert person is not None
        try:
            await conn.execute(
                APPLICATION_SQL,
                {
                    "id": app_id,
                    "account_id": account_id,
                    "job_id": job[0],
                    "candidate_id": person[0],
                    "status": "new",
                    "previous_status": None,
                    "status_changed_at": now,
                    "name": attrs.name,
                    "salutation": None,
                    "first_name": None,
                    "last_name": None,
                    "email": email,
                    "phone": attrs.phone or None,
                    "street": None,
                    "postal_code": None,
                    "city": None,
                    "country": None,
                    "cover_letter": attrs.cover_letter,
                    "custom_fields": Jsonb(attrs.custom_fields or {}),
                    "source": attrs.source,
                    "utm_source": attrs.utm_source,
                    "utm_medium": attrs.utm_medium,
                    "utm_campaign": attrs.utm_campaign,
                    "referrer_id": None,
                    "consent_privacy_policy": True,
                    "consent_privacy_policy_version": attrs.consent.privacy_policy_version,
                    "consent_talent_pool": attrs.consent.talent_pool,
                    "consented_at": now,
                    "consent_ip": client_ip,
                    "legal_hold": False,
                    "rating_total": 0,
                    "rating_count": 0,
                    "version": 1,
                    "created_by": None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        except UniqueViolation:  # one application per email per posting
            await conn.rollback()
            return None
        await conn.execute(
            HISTORY_SQL,
            {
                "id": uuid.uuid4(),
                "account_id": account_id,
                "application_id": app_id,
                "status": "new",
                "from_status": None,
                "changed_at": now,
                "changed_by_id": None,
                "changed_by_name": None,
                "note": None,
                "reason": None,
            },
        )
        docs = []
        for item in attrs.documents:
            doc_id = uuid.uuid4()
            token = "ats_up_" + secrets.token_urlsafe(32)
            docs.append(
                {
                    "id": doc_id,
                    "account_id": account_id,
                    "application_id": app_id,
                    "type": item.type,
                    "name": item.name.strip(),
                    "extension": item.extension,
                    "filename": safe_filename(item.name, item.extension),
                    "mime_type": MIME_TYPES.get(item.extension),
                    "size": None,
                    "upload_status": "uploading",
                    "storage_key": f"{account_id}/{app_id}/{doc_id}",
                    "upload_token_hash": hashlib.sha256(token.encode()).hexdigest(),
                    "created_at": datetime.now(UTC),
                    "uploaded_at": None,
                    "_token": token,
                }
            )
            # Presigned (no network) before the insert, as the app: the form's expiry sets ``staged_until``.
            upload = self.presign(f"{account_id}/{app_id}/staging/{doc_id}", docs[-1]["mime_type"])
            docs[-1]["staged_until"] = upload["expires_at"] + STAGING_GRACE
            docs[-1]["_upload"] = upload
        if docs:
            async with conn.cursor() as cur:
                await cur.executemany(DOCUMENT_SQL, [{k: v for k, v in d.items() if k[0] != "_"} for d in docs])
        stages = await self.stages(conn, account_id)
        # At commit, as ats.events.commit: the audit append (the account's lock first), then the outbox's.
        await self.audit(conn, account_id, app_id, job[0])
        if self.outbox_on:
            await self.outbox(conn, account_id, app_id, job, attrs, client_ip, now, stages["new"], docs, person)
        stage_id = stages["new"][0]
        await conn.commit()
        return app_id, account_id, now, stage_id, docs

    async def outbox(
        self,
        conn: AsyncConnection[Any],
        account_id: uuid.UUID,
        app_id: uuid.UUID,
        job: Any,
        attrs: AttributesIn,
        client_ip: str,
        now: datetime,
        stage: tuple[uuid.UUID, str],
        docs: list[dict[str, Any]],
        person: Any,
    ) -> None:
        """``candidate.created`` (a new person, as the API reads them (§13), built from what was inserted) and
        ``application.created`` with the application as the API reads it (§5), in one statement as
        ``ats.outbox.append_many`` writes them (the audit lock is held)."""
        data = {
            "id": str(app_id),
            "job": {"id": str(job[0]), "title": job[2]},
            "status": "new",
            "stage": {"id": str(stage[0]), "name": stage[1]},
            "status_history": [{"status": "new", "changed_at": now, "changed_by": None, "note": None, "reason": None}],
            "candidate": {
                "name": attrs.name,
                "salutation": None,
                "first_name": None,
                "last_name": None,
                "email": attrs.email,
                "phone": attrs.phone or None,
                "address": {"street": None, "postal_code": None, "city": None, "country": None},
            },
            "documents": [
                {
                    "id": str(d["id"]),
                    "type": d["type"],
                    "filename": d["filename"],
                    "mime_type": d["mime_type"],
                    "size": None,
                    "upload_status": "uploading",
                    "url": f"/api/v1/applications/{app_id}/documents/{d['id']}",
                }
                for d in docs
            ],
            "cover_letter": attrs.cover_letter,
            "custom_fields": attrs.custom_fields or {},
            "rating": None,
            "rating_count": 0,
            "notes": [],
            "consent": {
                "privacy_policy": True,
                "privacy_policy_version": attrs.consent.privacy_policy_version,
                "talent_pool": attrs.consent.talent_pool,
                "consented_at": now,
                "ip_address": client_ip,
            },
            "source": attrs.source,
            "legal_hold": False,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "utm_source": attrs.utm_source,
            "utm_medium": attrs.utm_medium,
            "utm_campaign": attrs.utm_campaign,
            "referrer_id": None,
        }
        events: list[tuple[str, Any, Any, Any, dict[str, Any]]] = []  # type, application, job, candidate, data
        if person[1]:
            phone = normalise_phone(attrs.phone)
            candidate = {
                "id": str(person[0]),
                "name": attrs.name,
                "salutation": None,
                "first_name": None,
                "last_name": None,
                "email": attrs.email,
                "emails": [attrs.email],
                "phones": [phone] if phone else [],
                "address": {"street": None, "postal_code": None, "city": None, "country": None},
                "links": [],
                "tags": [],
                "source": attrs.source,
                "consent": data["consent"],
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "applications": [{"id": str(app_id), "job": data["job"], "status": "new"}],
            }
            events.append(("candidate.created", None, None, person[0], msgspec.to_builtins(candidate)))
        events.append(("application.created", app_id, job[0], None, msgspec.to_builtins(data)))
        await append_events(conn, account_id, events)

    async def audit(self, conn: AsyncConnection[Any], account_id: uuid.UUID, app_id: uuid.UUID, job_id: Any) -> None:
        data = {"job_id": str(job_id), "channel": "public"}
        await self.append_audit(conn, account_id, ("public", None), "application.created", app_id, data)

    # ---- GET /api/v1/applications ----

    async def authenticate(
        self, conn: AsyncConnection[Any], scope: dict[str, Any]
    ) -> tuple[uuid.UUID, str, uuid.UUID, str] | None:
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
        return found[2], found[3], found[1], found[4]  # account, role, user id, user name

    async def list_applications(self, scope: dict[str, Any]) -> tuple[int, bytes]:
        """One checkout: the token lookup, then the list, in one transaction (committed on success)."""
        assert self.pool is not None
        async with self.pool.connection() as conn:
            principal = await self.authenticate(conn, scope)
            if principal is None:
                await conn.rollback()
                return 401, b'{"status":401,"code":"unauthorized"}'
            account_id, role = principal[:2]
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
        stages = await self.stages(conn, account_id)
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
            stage_id, stage_name = stages[r[COL["status"]]]
            rating_total, rating_count = r[COL["rating_total"]], r[COL["rating_count"]]
            views.append(
                ApplicationView(
                    id=app_id,
                    job=JobRef(r[COL["job_id"]], r[JOB_TITLE]),
                    status=r[COL["status"]],
                    stage=Ref(stage_id, stage_name),
                    status_history=related[app_id][0],
                    candidate=Candidate(
                        *(r[COL[c]] for c in ("name", "salutation", "first_name", "last_name", "email", "phone")),
                        Address(*(r[COL[c]] for c in ("street", "postal_code", "city", "country"))),
                    ),
                    documents=related[app_id][2],
                    cover_letter=r[COL["cover_letter"]],
                    custom_fields=r[COL["custom_fields"]],
                    rating=round(rating_total / rating_count, 2) if rating_count else None,
                    rating_count=rating_count,
                    notes=related[app_id][1],
                    consent=Consent(
                        *(
                            r[COL[c]]
                            for c in (
                                "consent_privacy_policy",
                                "consent_privacy_policy_version",
                                "consent_talent_pool",
                                "consented_at",
                                "consent_ip",
                            )
                        )
                    ),
                    source=r[COL["source"]],
                    legal_hold=r[COL["legal_hold"]],
                    version=r[COL["version"]],
                    created_at=r[COL["created_at"]],
                    updated_at=r[COL["updated_at"]],
                    utm_source=r[COL["utm_source"]],
                    utm_medium=r[COL["utm_medium"]],
                    utm_campaign=r[COL["utm_campaign"]],
                    referrer_id=r[COL["referrer_id"]],
                )
            )
        return views

    # ---- GET /api/v1/applications/{id}, PUT /api/v1/applications/{id}/status ----

    async def get_one(self, scope: dict[str, Any], app_id: uuid.UUID) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """One checkout: the token lookup, the application with its posting's title, its related rows; commit."""
        assert self.pool is not None
        async with self.pool.connection() as conn:
            principal = await self.authenticate(conn, scope)
            if principal is None or principal[1] not in FULL_SCOPE_ROLES:
                await conn.rollback()
                return 401, b'{"status":401}', []
            account_id = principal[0]
            row = await (await conn.execute(ONE_SQL, {"id_1": app_id, "account_id_1": account_id})).fetchone()
            if row is None:
                await conn.rollback()
                return 404, b'{"status":404}', []
            (view,) = await self.build_views(conn, account_id, [row])
        return 200, ENCODER.encode({"data": view}), [(b"etag", f'"{view.version}"'.encode())]

    async def move(
        self, scope: dict[str, Any], app_id: uuid.UUID, raw: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """One transaction: token, the row locked, the status machine, update, history, audit, then the view."""
        try:
            body = MOVE.decode(raw)
            target = Status(body.status)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
            return 422, b'{"status":422}', []
        assert self.pool is not None
        async with self.pool.connection() as conn:
            principal = await self.authenticate(conn, scope)
            if principal is None or principal[1] not in FULL_SCOPE_ROLES:
                await conn.rollback()
                return 401, b'{"status":401}', []
            account_id, _, user_id, user_name = principal
            params = {"id_1": app_id, "account_id_1": account_id}
            row = await (await conn.execute(LOCK_ONE_SQL, params)).fetchone()
            if row is None:
                await conn.rollback()
                return 404, b'{"status":404}', []
            current = Status(row[COL["status"]])
            previous = Status(row[COL["previous_status"]]) if row[COL["previous_status"]] else None
            try:
                outcome = check_move(current, target, previous)
            except TransitionNotAllowed:
                await conn.rollback()
                return 409, b'{"status":409}', []
            if outcome.changed:
                now = datetime.now(UTC)
                update = {
                    "status": target.value,
                    "previous_status": outcome.previous_after.value if outcome.previous_after else None,
                    "status_changed_at": now,
                    "version": row[COL["version"]] + 1,
                    "updated_at": now,
                    "applications_id": app_id,
                }
                await conn.execute(MOVE_SQL, update)
                history = {
                    "id": uuid.uuid4(),
                    "account_id": account_id,
                    "application_id": app_id,
                    "status": target.value,
                    "from_status": current.value,
                    "changed_at": now,
                    "changed_by_id": user_id,
                    "changed_by_name": user_name,
                    "note": body.note,
                    "reason": body.reason,
                }
                await conn.execute(HISTORY_SQL, history)
                data = {
                    "from": current.value,
                    "to": target.value,
                    "with_note": bool(body.note),
                    "with_reason": bool(body.reason),
                }
                # The event's payload: the application as an admin reads it now (by id), which is the answer too,
                # read under the account's lock (ats.events.lock_for_payload); then, at commit as ats.events.commit
                # does, the audit append and the outbox's (the lock held: not taken again).
                await conn.execute(AUDIT_LOCK_SQL, {"key": f"audit:{account_id}"})
                one = await (await conn.execute(BY_ID_SQL, {"id_1": app_id})).fetchone()
                (view,) = await self.build_views(conn, account_id, [one])
                await self.append_audit(
                    conn, account_id, ("user", user_id), "application.status_changed", app_id, data, locked=True
                )
                event = ("application.status_changed", app_id, row[COL["job_id"]], None, msgspec.to_builtins(view))
                await append_events(conn, account_id, [event])
            else:
                one = await (await conn.execute(ONE_SQL, params)).fetchone()
                (view,) = await self.build_views(conn, account_id, [one])
        return 200, ENCODER.encode({"data": view}), [(b"etag", f'"{view.version}"'.encode())]

    async def append_audit(
        self,
        conn: AsyncConnection[Any],
        account_id: uuid.UUID,
        actor: tuple[str, uuid.UUID | None],
        action: str,
        object_id: uuid.UUID,
        data: dict[str, Any],
        *,
        locked: bool = False,
    ) -> None:
        """The audit append as ``ats.audit.write_pending`` runs it at commit: the account's lock (unless the
        transaction holds it already), then one INSERT … SELECT."""
        if not locked:
            await conn.execute(AUDIT_LOCK_SQL, {"key": f"audit:{account_id}"})
        event_id = uuid.uuid4()
        at = datetime.now(UTC)
        data = json.loads(canonical(data))
        body = {
            "id": str(event_id),
            "at": at.isoformat(),
            "account_id": str(account_id),
            "actor": {"type": actor[0], "id": str(actor[1]) if actor[1] else None},
            "action": action,
            "object_type": "application",
            "object_id": str(object_id),
            "data": data,
        }
        await conn.execute(
            AUDIT_APPEND_SQL,
            {
                "id": event_id,
                "account_id": account_id,
                "at": at,
                "actor_type": actor[0],
                "actor_id": actor[1],
                "action": action,
                "object_type": "application",
                "object_id": object_id,
                "data": Jsonb(data),
                "genesis": GENESIS,
                "canonical_head": canonical(body).decode()[:-1] + ',"seq":',
            },
        )

    # ---- GET /stream?prefix=P ----

    async def stream(self, scope: dict[str, Any], send: Any) -> None:
        prefix = parse_qs(scope["query_string"].decode()).get("prefix", [""])[0]
        loop = asyncio.get_running_loop()
        chunks = await loop.run_in_executor(self.threads, self.open_objects, prefix)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]}
        )
        while chunk := await loop.run_in_executor(self.threads, next, chunks, b""):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def open_objects(self, prefix: str) -> Iterator[bytes]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        return self.chunks(sorted(item["Key"] for item in listed))

    def chunks(self, keys: list[str]) -> Iterator[bytes]:
        for key in keys:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                while chunk := body.read(self.chunk):
                    yield chunk
            finally:
                body.close()


def _cursor_value(orderby: str, sort_key: Any) -> Any:
    """The sort key as PostgreSQL computed it (the ``sort_key`` column)."""
    return sort_key.isoformat() if orderby == "date" else sort_key


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(
    send: Any,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | bytes = b"application/json",
    more: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The response; ``extra``: its content type, or headers added to a JSON response; ``more``: headers."""
    content_type, added = (extra, more or []) if isinstance(extra, bytes) else (b"application/json", extra)
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *added]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = Baseline()

"""A bare baseline for the public apply (§6): raw ASGI, msgspec, psycopg 3, boto3, no framework.

``POST /public/v1/applicants?include=applicant_documents`` doing the work the API does for one apply
with documents, in the same order and on the same kind of connection pool:

1. read the body and decode it with msgspec into typed structs (unknown fields refused), check the
   email, each extension and the consent;
2. ``HeadBucket`` in a worker thread (the API checks that S3 can take the uploads before writing),
   unless one succeeded in the last ``BENCH_S3_CHECK_MAX_AGE`` s (as the API trusts a recent answer
   for ``api.public_apply.STORAGE_CHECK_MAX_AGE`` s; ``bench apply`` passes that value);
3. a checkout ping (``;``, as SQLAlchemy's ``pool_pre_ping`` sends), then one transaction: the posting
   ``FOR SHARE``, the application (the unique index on posting and ``lower(email)`` is the duplicate
   check: a violation rolls back and answers ``422``), its first history entry, the audit
   event as ``ats.audit.record`` writes it (advisory lock, last hash, hash-chained insert), both
   document rows in one ``executemany``, the account's stages (once per process, as the app caches
   them); commit;
4. one ``generate_presigned_post`` per document, with the API's fields and conditions;
5. the API's JSON:API answer (``201``, ``application/vnd.api+json``).

The SQL below is the text SQLAlchemy renders for the app (captured with a ``before_cursor_execute``
listener); ``python -m bench apply`` compares it with the app's statements on every run.

Serve it with ``uvicorn bench.apply_baseline:app`` and ``BENCH_DATABASE_URL`` (a libpq URL) plus the
``ATS_S3_*`` variables (``BENCH_POOL_SIZE`` and ``BENCH_POOL_OVERFLOW``: the app engine's pool).
``BENCH_S3_PING=0`` leaves out step 2 (a diagnostic variant).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import msgspec
from botocore.config import Config
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

JSONAPI = b"application/vnd.api+json"
GENESIS = "0" * 64
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

# ---- the statements (as SQLAlchemy renders them for the psycopg dialect) ----

PING_SQL = ";"
JOB_SQL = (
    "SELECT job_postings.id, job_postings.account_id, job_postings.title, job_postings.description, "
    "job_postings.location, job_postings.department, job_postings.employment_type, job_postings.status, "
    "job_postings.closes_at, job_postings.hiring_team, job_postings.application_questions, "
    "job_postings.created_at, job_postings.updated_at \nFROM job_postings \n"
    "WHERE job_postings.id = %(id_1)s::UUID AND job_postings.status = %(status_1)s::VARCHAR AND "
    "(job_postings.closes_at IS NULL OR job_postings.closes_at > %(closes_at_1)s::TIMESTAMP WITH TIME ZONE) "
    "FOR SHARE"
)
APPLICATION_SQL = (
    "INSERT INTO applications (id, account_id, job_id, status, previous_status, status_changed_at, name, "
    "salutation, first_name, last_name, email, phone, street, postal_code, city, country, cover_letter, "
    "custom_fields, source, consent_privacy_policy, consent_privacy_policy_version, consent_talent_pool, "
    "consented_at, consent_ip, legal_hold, rating_total, rating_count, version, created_by, created_at, "
    "updated_at) VALUES (%(id)s::UUID, %(account_id)s::UUID, %(job_id)s::UUID, %(status)s::VARCHAR, "
    "%(previous_status)s::VARCHAR, %(status_changed_at)s::TIMESTAMP WITH TIME ZONE, %(name)s::VARCHAR, "
    "%(salutation)s::VARCHAR, %(first_name)s::VARCHAR, %(last_name)s::VARCHAR, %(email)s::VARCHAR, "
    "%(phone)s::VARCHAR, %(street)s::VARCHAR, %(postal_code)s::VARCHAR, %(city)s::VARCHAR, "
    "%(country)s::VARCHAR, %(cover_letter)s::VARCHAR, %(custom_fields)s::JSONB, %(source)s::VARCHAR, "
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
AUDIT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))"
AUDIT_LAST_SQL = (
    "SELECT audit_events.seq, audit_events.hash \nFROM audit_events \n"
    "WHERE audit_events.account_id = %(account_id_1)s::UUID ORDER BY audit_events.seq DESC \n"
    " LIMIT %(param_1)s::INTEGER"
)
AUDIT_INSERT_SQL = (
    "INSERT INTO audit_events (id, account_id, seq, at, actor_type, actor_id, action, object_type, "
    "object_id, data, prev_hash, hash) VALUES (%(id)s::UUID, %(account_id)s::UUID, %(seq)s::BIGINT, "
    "%(at)s::TIMESTAMP WITH TIME ZONE, %(actor_type)s::VARCHAR, %(actor_id)s::UUID, %(action)s::VARCHAR, "
    "%(object_type)s::VARCHAR, %(object_id)s::UUID, %(data)s::JSONB, %(prev_hash)s::VARCHAR, "
    "%(hash)s::VARCHAR)"
)
DOCUMENT_SQL = (
    "INSERT INTO documents (id, account_id, application_id, type, name, extension, filename, mime_type, "
    "size, upload_status, storage_key, upload_token_hash, created_at, uploaded_at) VALUES "
    "(%(id)s::UUID, %(account_id)s::UUID, %(application_id)s::UUID, %(type)s::VARCHAR, %(name)s::VARCHAR, "
    "%(extension)s::VARCHAR, %(filename)s::VARCHAR, %(mime_type)s::VARCHAR, %(size)s::BIGINT, "
    "%(upload_status)s::VARCHAR, %(storage_key)s::VARCHAR, %(upload_token_hash)s::VARCHAR, "
    "%(created_at)s::TIMESTAMP WITH TIME ZONE, %(uploaded_at)s::TIMESTAMP WITH TIME ZONE)"
)
STAGES_SQL = (
    "SELECT stages.status, stages.id, stages.name \nFROM stages \nWHERE stages.account_id = %(account_id_1)s::UUID"
)
# One apply with documents, in order, for the statement check (the stages only on a cold cache).
STATEMENTS = (
    JOB_SQL,
    APPLICATION_SQL,
    HISTORY_SQL,
    AUDIT_LOCK_SQL,
    AUDIT_LAST_SQL,
    AUDIT_INSERT_SQL,
    DOCUMENT_SQL,
)

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


class DataIn(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    attributes: AttributesIn


class ApplyIn(msgspec.Struct, forbid_unknown_fields=True):
    data: DataIn


DECODER = msgspec.json.Decoder(ApplyIn)
ENCODER = msgspec.json.Encoder()


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


def chain_hash(prev: str, event: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + canonical(event)).hexdigest()


# ---- the ASGI app ----


async def _ping(conn: AsyncConnection[Any]) -> None:
    """What SQLAlchemy's ``pool_pre_ping`` sends at every checkout, outside a transaction."""
    await conn.set_autocommit(True)
    try:
        await conn.execute(PING_SQL)
    finally:
        await conn.set_autocommit(False)


def safe_filename(name: str, extension: str) -> str:
    text = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", "_", name).strip(" ._-")[:140]
    return f"{text or 'document'}.{extension}"


class Baseline:
    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None
        self.stages: dict[uuid.UUID, uuid.UUID] = {}
        self.s3: Any = None
        self.bucket = os.environ.get("ATS_S3_BUCKET", "ats-documents")
        self.ping_s3 = os.environ.get("BENCH_S3_PING", "1") != "0"
        self.s3_max_age = float(os.environ.get("BENCH_S3_CHECK_MAX_AGE", "2.0"))
        self.s3_ok_at = float("-inf")  # monotonic time of the last successful HeadBucket
        self.max_bytes = int(os.environ.get("ATS_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
        self.url_ttl = 3600
        # anyio's default thread limiter (what the API's to_thread calls use) is 40 threads.
        self.threads = ThreadPoolExecutor(max_workers=40, thread_name_prefix="s3")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health/live":
            await respond(send, 200, b'{"status":"ok"}', b"application/json")
            return
        if scope["path"] != "/public/v1/applicants" or scope["method"] != "POST":
            await respond(send, 404, b'{"errors":[{"status":"404"}]}', JSONAPI)
            return
        raw = await read_body(receive)
        status, body = await self.apply(scope, raw)
        await respond(send, status, body, JSONAPI)

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.s3 = boto3.client(
                    "s3",
                    region_name=os.environ.get("ATS_S3_REGION", "us-east-1"),
                    endpoint_url=os.environ["ATS_S3_ENDPOINT_URL"],
                    aws_access_key_id=os.environ["ATS_S3_ACCESS_KEY_ID"],
                    aws_secret_access_key=os.environ["ATS_S3_SECRET_ACCESS_KEY"],
                    # The API's client configuration (storage.client.make_client).
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
                # The app's engine (``bench apply`` passes its sizes): a ping at every checkout.
                size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
                overflow = int(os.environ.get("BENCH_POOL_OVERFLOW", "5"))
                self.pool = AsyncConnectionPool(
                    os.environ["BENCH_DATABASE_URL"],
                    min_size=size,
                    max_size=size + overflow,
                    kwargs={"connect_timeout": 3, "application_name": "ats-apply-baseline"},
                    check=_ping,
                    open=False,
                )
                await self.pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                self.threads.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def apply(self, scope: dict[str, Any], raw: bytes) -> tuple[int, bytes]:
        try:
            attrs = parse(raw)
        except Invalid as exc:
            return 422, ENCODER.encode({"errors": [{"status": "422", "detail": str(exc)}]})
        client_ip = scope["client"][0] if scope.get("client") else "0.0.0.0"
        if attrs.documents and self.ping_s3 and time.monotonic() - self.s3_ok_at >= self.s3_max_age:
            await asyncio.get_running_loop().run_in_executor(self.threads, self.head_bucket)
        assert self.pool is not None
        async with self.pool.connection() as conn:
            result = await self.write(conn, attrs, client_ip)
        if result is None:
            return 422, b'{"errors":[{"status":"422","code":"not_open_or_duplicate"}]}'
        app_id, _, created_at, stage_id, docs = result
        included = []
        for doc in docs:
            upload = self.presign(doc["storage_key"], doc["mime_type"])
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
            },
            "included": included,
        }
        return 201, ENCODER.encode(body)

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
        try:
            await conn.execute(
                APPLICATION_SQL,
                {
                    "id": app_id,
                    "account_id": account_id,
                    "job_id": job[0],
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
        await self.audit(conn, account_id, app_id, job[0])
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
        if docs:
            async with conn.cursor() as cur:
                await cur.executemany(DOCUMENT_SQL, [{k: v for k, v in d.items() if k != "_token"} for d in docs])
        stage_id = self.stages.get(account_id)
        if stage_id is None:
            rows = await (await conn.execute(STAGES_SQL, {"account_id_1": account_id})).fetchall()
            stage_id = next(sid for status, sid, _ in rows if status == "new")
            self.stages[account_id] = stage_id
        await conn.commit()
        return app_id, account_id, now, stage_id, docs

    async def audit(self, conn: AsyncConnection[Any], account_id: uuid.UUID, app_id: uuid.UUID, job_id: Any) -> None:
        await conn.execute(AUDIT_LOCK_SQL, {"key": f"audit:{account_id}"})
        last = await (await conn.execute(AUDIT_LAST_SQL, {"account_id_1": account_id, "param_1": 1})).fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        event_id = uuid.uuid4()
        at = datetime.now(UTC)
        data = json.loads(canonical({"job_id": str(job_id), "channel": "public"}))
        body = {
            "id": str(event_id),
            "seq": seq,
            "at": at.isoformat(),
            "account_id": str(account_id),
            "actor": {"type": "public", "id": None},
            "action": "application.created",
            "object_type": "application",
            "object_id": str(app_id),
            "data": data,
        }
        await conn.execute(
            AUDIT_INSERT_SQL,
            {
                "id": event_id,
                "account_id": account_id,
                "seq": seq,
                "at": at,
                "actor_type": "public",
                "actor_id": None,
                "action": "application.created",
                "object_type": "application",
                "object_id": app_id,
                "data": Jsonb(data),
                "prev_hash": prev,
                "hash": chain_hash(prev, body),
            },
        )


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = Baseline()

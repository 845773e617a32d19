"""Sealing the audit log outside the database: signed checkpoints in S3 (as CloudTrail digests, CT tree heads).

Every ``ATS_AUDIT_SEAL_INTERVAL`` (and on demand) each account with new events gets a checkpoint
``{account_id, seq, head, count, at, prev}`` signed with Ed25519, written to the audit bucket under
``audit-checkpoints/<account>/<seq>.json`` with S3 Object Lock retention where the store supports it. ``head`` is
the hash of event ``seq``, ``count`` the events up to it, ``prev`` the previous checkpoint's hash (``GENESIS``
for the first), so the checkpoints form a chain of their own. The app never deletes under that prefix (the
documents' erasure and sweep work in another bucket).

Whoever owns the database can rewrite every row and recompute every hash, but cannot sign: verification checks
the chain against every checkpoint, and an index table (``audit_checkpoints``, append-only) notices a checkpoint
object removed from S3. ``verify_offline`` needs only the checkpoints, an export and the public key.

The signing key is ``ATS_AUDIT_SIGNING_KEY`` (base64 of 32 raw bytes) or, when unset, one generated once into
``ATS_DATA_DIR/audit-signing.key``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ats.storage import StorageUnavailable

from . import audit
from .db import UnitOfWork, utcnow
from .models import AuditCheckpoint, AuditEvent
from .settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("ats.audit")

PREFIX = "audit-checkpoints/"
KEY_FILE = "audit-signing.key"
CHECKPOINT_FIELDS = ("account_id", "seq", "head", "count", "at", "prev")
# An event committed after a checkpoint was taken, and so not in it, was dated at most this long before it
# (the length of its transaction); an unsealed event dated earlier was not written by the server.
GRACE = timedelta(minutes=5)
# Answers of a store without Object Lock (SeaweedFS, MinIO without it, a bucket created without it).
_NO_OBJECT_LOCK = frozenset({"NotImplemented", "InvalidRequest", "InvalidArgument", "InvalidBucketState"})


class CheckpointError(Exception):
    """A checkpoint object cannot be read as one (not JSON, fields missing)."""


# --- keys -----------------------------------------------------------------------------------------


def _private_from_b64(value: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(value, validate=True))


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """``ATS_AUDIT_SIGNING_KEY``, else the key in ``ATS_DATA_DIR`` (generated there, mode 0600, the first time)."""
    if settings.audit_signing_key:
        return _private_from_b64(settings.audit_signing_key)
    path = settings.data_dir.resolve() / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = base64.b64encode(os.urandom(32)).decode()
        try:  # O_EXCL: of two processes starting at once, one writes and both read its key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(seed + "\n")
            log.warning("generated an audit signing key in %s: back it up, or set ATS_AUDIT_SIGNING_KEY", path)
    return _private_from_b64(path.read_text().strip())


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The base64 of the 32 raw bytes of the public key (what ``ats audit public-key`` prints)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def parse_public_key(value: str) -> Ed25519PublicKey:
    """A public key from its base64, or from ``ats audit public-key``'s JSON line; ValueError otherwise."""
    value = value.strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value)["public_key"])
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a public key: expected the output of `ats audit public-key`") from None
    try:
        raw = base64.b64decode(value, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ValueError("not a public key: expected the base64 of a 32-byte Ed25519 public key") from None


# --- checkpoints ----------------------------------------------------------------------------------


def checkpoint_hash(checkpoint: dict[str, Any]) -> str:
    """sha256 of the signed fields, canonical; the next checkpoint's ``prev``."""
    return hashlib.sha256(audit.canonical({k: checkpoint[k] for k in CHECKPOINT_FIELDS})).hexdigest()


def sign(key: Ed25519PrivateKey, body: dict[str, Any]) -> dict[str, Any]:
    signed = {k: body[k] for k in CHECKPOINT_FIELDS}
    signature = key.sign(audit.canonical(signed))
    return {**signed, "signature": base64.b64encode(signature).decode()}


def signature_valid(public: Ed25519PublicKey, checkpoint: dict[str, Any]) -> bool:
    try:
        signature = base64.b64decode(str(checkpoint["signature"]), validate=True)
        public.verify(signature, audit.canonical({k: checkpoint[k] for k in CHECKPOINT_FIELDS}))
    except (InvalidSignature, KeyError, binascii.Error, ValueError):
        return False
    return True


def checkpoint_key(account_id: uuid.UUID | str, seq: int) -> str:
    """Zero-padded so that listing order is sequence order."""
    return f"{PREFIX}{account_id}/{seq:020d}.json"


def parse_checkpoint(raw: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(raw)
    except ValueError:
        raise CheckpointError("not JSON") from None
    if not isinstance(loaded, dict) or not all(k in loaded for k in (*CHECKPOINT_FIELDS, "signature")):
        raise CheckpointError("fields missing")
    return loaded


def check(
    account_id: uuid.UUID | str,
    records: list[dict[str, Any]],
    checkpoints: Iterable[dict[str, Any] | CheckpointError],
    public: Ed25519PublicKey,
) -> audit.VerifyResult:
    """One account's exported events (``seq`` order) against its checkpoints: the whole verification.

    Each checkpoint must be signed by ``public``, name this account, follow the previous one (``prev``, a higher
    ``seq``), have ``count == seq`` (no gap) and match the events (as many, and event ``seq``'s hash is ``head``);
    the events must chain from genesis, so those after the last checkpoint extend it, and none of those may be
    dated more than ``GRACE`` before the last checkpoint (a forged event slipped in behind it).
    """
    chain = audit.verify_records(records)
    sealed: int | None = None
    last_at: datetime | None = None
    prev = audit.GENESIS
    for checkpoint in checkpoints:
        failure = _checkpoint_failure(public, str(account_id), checkpoint, prev, sealed or 0, records)
        if failure is not None:
            seq = checkpoint.get("seq") if isinstance(checkpoint, dict) else None
            return replace(
                chain,
                ok=False,
                broken_at=seq if isinstance(seq, int) else (sealed or 0) + 1,
                reason=failure,
                sealed_through=sealed,
                unsealed=0,
            )
        assert isinstance(checkpoint, dict)
        sealed = int(checkpoint["seq"])
        prev = checkpoint_hash(checkpoint)
        last_at = _time(checkpoint["at"])
    if not chain.ok:
        return replace(chain, sealed_through=sealed)
    if sealed is not None and last_at is not None:
        for record in records[sealed:]:
            if _time(record.get("at")) < last_at - GRACE:
                return replace(
                    chain,
                    ok=False,
                    broken_at=record.get("seq"),
                    reason="unsealed event dated before the last checkpoint (backdated or forged)",
                    sealed_through=sealed,
                )
    return replace(chain, sealed_through=sealed, unsealed=len(records) - (sealed or 0))


def _time(value: object) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _checkpoint_failure(
    public: Ed25519PublicKey,
    account_id: str,
    checkpoint: dict[str, Any] | CheckpointError,
    prev: str,
    prev_seq: int,
    records: list[dict[str, Any]],
) -> str | None:
    if isinstance(checkpoint, CheckpointError):
        return f"checkpoint unreadable ({checkpoint})"
    if not signature_valid(public, checkpoint):
        return "checkpoint signature invalid"
    seq = checkpoint["seq"]
    if checkpoint["account_id"] != account_id:
        return "checkpoint of another account"
    if checkpoint["prev"] != prev or not isinstance(seq, int) or seq <= prev_seq:
        return "checkpoint chain broken (a checkpoint missing, replaced or reordered)"
    if checkpoint["count"] != seq:
        return "checkpoint count disagrees with its sequence"
    if len(records) < seq or records[seq - 1].get("seq") != seq:
        return "sealed events missing"
    if records[seq - 1].get("hash") != checkpoint["head"]:
        return "sealed events altered (head hash differs from the checkpoint)"
    return None


# --- S3 -------------------------------------------------------------------------------------------


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class CheckpointStore:
    """Checkpoint objects in the audit bucket. Every method is blocking: call it off the event loop."""

    client: S3Client
    bucket: str
    retention: int
    object_lock: bool | None = field(default=None, init=False)  # None: not known yet

    def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock when it is missing (without, on a store that has none)."""
        try:
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
            try:
                self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
            except ClientError as exc:
                if _code(exc) in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    return
                if _code(exc) not in _NO_OBJECT_LOCK:
                    raise
                log.warning("S3 cannot create the audit bucket with Object Lock (%s): created without", _code(exc))
                self.client.create_bucket(Bucket=self.bucket)
                self.object_lock = False
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    def put(self, key: str, body: bytes) -> None:
        """Write once, retained until now + ``retention`` (COMPLIANCE mode) where the store supports it."""
        try:
            if self.object_lock is not False:
                until = datetime.now(UTC) + timedelta(seconds=self.retention)
                try:
                    self.client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ContentType="application/json",
                        ObjectLockMode="COMPLIANCE",
                        ObjectLockRetainUntilDate=until,
                    )
                    self.object_lock = True
                    return
                except ClientError as exc:
                    if _code(exc) not in _NO_OBJECT_LOCK:
                        raise
                    log.warning("S3 refused Object Lock on audit checkpoints (%s): written without", _code(exc))
                    self.object_lock = False
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    def keys(self, account_id: uuid.UUID, *, after: str | None = None) -> list[str]:
        """The account's checkpoint keys in sequence order (those after ``after`` only, when given)."""
        prefix = f"{PREFIX}{account_id}/"
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, StartAfter=after or ""
            )
            for page in pages:
                found.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                return []
            raise StorageUnavailable(type(exc).__name__) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        return sorted(found)

    def accounts(self) -> list[str]:
        """The accounts that have checkpoints (the folders under the prefix)."""
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=PREFIX, Delimiter="/"
            )
            for page in pages:
                found.extend(p["Prefix"][len(PREFIX) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                return []
            raise StorageUnavailable(type(exc).__name__) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        return found

    def read(self, key: str) -> dict[str, Any] | CheckpointError:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                raw = body.read()
            finally:
                body.close()
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404"}:
                return CheckpointError("gone")
            raise StorageUnavailable(type(exc).__name__) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        try:
            return parse_checkpoint(raw)
        except CheckpointError as exc:
            return exc

    def load(self, account_id: uuid.UUID, *, after: str | None = None) -> list[dict[str, Any] | CheckpointError]:
        return [self.read(key) for key in self.keys(account_id, after=after)]


_stores: dict[tuple[int, str, int], CheckpointStore] = {}


def checkpoint_store(client: S3Client, settings: Settings) -> CheckpointStore:
    """One store per client and bucket, so whether Object Lock works is found out (and logged) once."""
    key = (id(client), settings.audit_bucket, settings.audit_checkpoint_retention)
    store = _stores.get(key)
    if store is None or store.client is not client:
        store = _stores[key] = CheckpointStore(client, settings.audit_bucket, settings.audit_checkpoint_retention)
    return store


# --- the server's side: seal and verify -----------------------------------------------------------


@asynccontextmanager
async def _account_lock(uow: UnitOfWork, account_id: uuid.UUID, *, shared: bool) -> AsyncIterator[None]:
    """Sealers of one account queue (exclusive); verifiers see no checkpoint half-written (shared).

    A session-level advisory lock on an AUTOCOMMIT connection: no transaction stays open while S3 is called.
    """
    lock, unlock = (
        ("pg_advisory_lock_shared", "pg_advisory_unlock_shared")
        if shared
        else ("pg_advisory_lock", "pg_advisory_unlock")
    )
    key = {"key": f"audit-seal:{account_id}"}
    async with uow.sessions() as session:
        conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        await conn.execute(text(f"SELECT {lock}(hashtextextended(:key, 0))"), key)
        try:
            yield
        finally:
            await conn.execute(text(f"SELECT {unlock}(hashtextextended(:key, 0))"), key)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One checkpoint written."""

    account_id: uuid.UUID
    seq: int
    head: str
    count: int
    at: datetime
    key: str


async def _head(session: AsyncSession, account_id: uuid.UUID) -> tuple[int, str, int] | None:
    """(last seq, its hash, events) of an account, or None when it has none."""
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.account_id == account_id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return None
    events = await audit.count(session, account_id)
    return int(last[0]), str(last[1]), events


async def _last_indexed(session: AsyncSession, account_id: uuid.UUID) -> AuditCheckpoint | None:
    found: AuditCheckpoint | None = await session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.account_id == account_id)
        .order_by(AuditCheckpoint.seq.desc())
        .limit(1)
    )
    return found


async def seal(
    uow: UnitOfWork, store: CheckpointStore, key: Ed25519PrivateKey, *, account_id: uuid.UUID | None = None
) -> list[Sealed]:
    """Write a checkpoint for each account (or the one) with events after its last checkpoint."""
    async with uow() as session:
        accounts = await audit.accounts_with_events(session) if account_id is None else [account_id]
    if store.object_lock is None:
        await anyio.to_thread.run_sync(store.ensure_bucket)
    written: list[Sealed] = []
    for account in accounts:
        async with _account_lock(uow, account, shared=False):
            one = await _seal_account(uow, store, key, account)
        if one is not None:
            written.append(one)
    return written


async def _seal_account(
    uow: UnitOfWork, store: CheckpointStore, key: Ed25519PrivateKey, account: uuid.UUID
) -> Sealed | None:
    at = utcnow()  # before the head is read: an event committed later and not sealed has ``at`` > at - GRACE
    async with uow() as session:
        head = await _head(session, account)
        indexed = await _last_indexed(session, account)
    if head is None:
        return None
    seq, head_hash, count = head
    last_seq, prev = (indexed.seq, indexed.hash) if indexed is not None else (0, audit.GENESIS)
    # A checkpoint written to S3 by a process that died before indexing it: index it and chain from it.
    after = checkpoint_key(account, last_seq) if indexed is not None else None
    for found in await anyio.to_thread.run_sync(lambda: store.load(account, after=after)):
        if isinstance(found, CheckpointError) or not signature_valid(key.public_key(), found):
            continue  # verification reports it; sealing goes on from the last good one
        if found["prev"] == prev and found["seq"] > last_seq:
            last_seq, prev = int(found["seq"]), checkpoint_hash(found)
            async with uow() as session:
                session.add(AuditCheckpoint(account_id=account, seq=last_seq, hash=prev, at=utcnow()))
    if seq <= last_seq:
        return None
    body = {
        "account_id": str(account),
        "seq": seq,
        "head": head_hash,
        "count": count,
        "at": at.isoformat(),
        "prev": prev,
    }
    signed = sign(key, body)
    object_key = checkpoint_key(account, seq)
    await anyio.to_thread.run_sync(store.put, object_key, audit.canonical(signed))
    async with uow() as session:
        session.add(AuditCheckpoint(account_id=account, seq=seq, hash=checkpoint_hash(signed), at=at))
    return Sealed(account, seq, head_hash, count, at, object_key)


async def verify_account(
    uow: UnitOfWork, store: CheckpointStore, public: Ed25519PublicKey, account_id: uuid.UUID
) -> audit.VerifyResult:
    """The chain, every checkpoint in S3, and every indexed checkpoint still in S3 unchanged."""
    async with _account_lock(uow, account_id, shared=True):
        async with uow() as session:
            records = [audit.record_of(row) for row in await audit.account_rows(session, account_id)]
            listed = await session.execute(
                select(AuditCheckpoint.seq, AuditCheckpoint.hash).where(AuditCheckpoint.account_id == account_id)
            )
            indexed = {int(seq): str(digest) for seq, digest in listed}
        checkpoints = await anyio.to_thread.run_sync(lambda: store.load(account_id))
    result = check(account_id, records, checkpoints, public)
    if not result.ok:
        return result
    in_s3 = {c["seq"]: checkpoint_hash(c) for c in checkpoints if isinstance(c, dict)}
    for seq in sorted(indexed):
        if in_s3.get(seq) != indexed[seq]:
            return replace(result, ok=False, broken_at=seq, reason="checkpoint missing or replaced in S3", unsealed=0)
    return result


async def accounts_to_verify(uow: UnitOfWork, store: CheckpointStore) -> list[uuid.UUID]:
    """Accounts with events or with checkpoints (a chain deleted whole still has its checkpoints)."""
    async with uow() as session:
        with_events = set(await audit.accounts_with_events(session))
        sealed = set((await session.scalars(select(AuditCheckpoint.account_id).distinct())).all())
    for name in await anyio.to_thread.run_sync(store.accounts):
        try:
            sealed.add(uuid.UUID(name))
        except ValueError:
            continue  # not an account's folder: nothing the server wrote
    return sorted(with_events | sealed)


# --- the auditor's side: offline ------------------------------------------------------------------


def read_export(path: Path) -> dict[str, list[dict[str, Any]]]:
    """``ats audit export`` output (JSON lines) by account, each in ``seq`` order as exported."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                by_account.setdefault(str(record["account_id"]), []).append(record)
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path}: line {number} is not an exported audit event") from None
    return by_account


def read_checkpoints(directory: Path) -> dict[str, list[dict[str, Any] | CheckpointError]]:
    """Every ``*.json`` under ``directory`` (as copied from the bucket), by account, in sequence order."""
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    found: dict[str, list[tuple[int, dict[str, Any] | CheckpointError]]] = {}
    for path in sorted(directory.rglob("*.json")):
        one: dict[str, Any] | CheckpointError
        try:
            one = parse_checkpoint(path.read_bytes())
        except CheckpointError as exc:
            one = CheckpointError(f"{path.name}: {exc}")
        account = str(one["account_id"]) if isinstance(one, dict) else path.parent.name
        order = one["seq"] if isinstance(one, dict) and isinstance(one["seq"], int) else 0
        found.setdefault(account, []).append((order, one))
    return {a: [c for _, c in sorted(items, key=lambda item: item[0])] for a, items in found.items()}


def verify_offline(
    checkpoints: dict[str, list[dict[str, Any] | CheckpointError]],
    events: dict[str, list[dict[str, Any]]],
    public: Ed25519PublicKey,
) -> dict[str, audit.VerifyResult]:
    """Each account in the export or the checkpoints, verified without the database or S3."""
    return {
        account: check(account, events.get(account, []), checkpoints.get(account, []), public)
        for account in sorted(set(checkpoints) | set(events))
    }

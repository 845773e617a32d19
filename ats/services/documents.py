"""Documents: presigned uploads and their completion, recruiter uploads, downloads, deletes, the sweep.

Storage keys are made here only (``{account}/{application}/{document}``); no user-supplied name
reaches a key. Every S3 call is blocking and runs in a worker thread.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, Protocol

import anyio
import anyio.to_thread
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ats.storage import Documents, ObjectMissing, PresignedPost, check_signature, safe_filename
from ats.storage.filetypes import ALLOWED_EXTENSIONS, MIME_TYPES
from ats.vocabulary import DOCUMENT_TYPES

from .. import audit, events, payloads
from ..auth import Principal, hash_secret, new_secret
from ..db import UnitOfWork, constraint_name, new_id, utcnow
from ..errors import Conflict, FieldError, Forbidden, NotFound, UploadRejected, ValidationFailed
from ..models import Application, Document, IdempotencyKey
from ..roles import Permission
from ..runtime import Runtime
from .application_views import document_view
from .applications import get_application_row, touch

log = logging.getLogger("ats.documents")

UPLOAD_TOKEN_PREFIX = "ats_up_"


__all__ = ["UploadRejected"]  # raised here, defined with the other domain errors


def storage_key(account_id: uuid.UUID, application_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"{account_id}/{application_id}/{document_id}"


class _DocumentIds(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def account_id(self) -> uuid.UUID: ...
    @property
    def application_id(self) -> uuid.UUID: ...


def staging_key(document: _DocumentIds) -> str:
    """Where the browser's presigned POST writes: under the application's prefix (erasure removes it)."""
    return f"{document.account_id}/{document.application_id}/staging/{document.id}"


def _checked_key(document: Document) -> str:
    """A fresh final key per completion attempt: concurrent attempts never overwrite each other's copy."""
    return f"{storage_key(document.account_id, document.application_id, document.id)}.{secrets.token_hex(8)}"


# How long after a form's advertised expiry its staging object is left alone (clock skew with S3).
STAGING_GRACE = timedelta(minutes=5)


def application_prefix(account_id: uuid.UUID, application_id: uuid.UUID) -> str:
    return f"{account_id}/{application_id}/"


@dataclass(frozen=True, slots=True)
class NewUpload:
    document: Document
    upload: PresignedPost
    upload_token: str
    max_bytes: int


def new_document(
    application: Application, *, name: str, extension: str, doc_type: str, status: str = "uploading"
) -> Document:
    document_id = new_id()
    ext = extension.lower()
    return Document(
        id=document_id,
        account_id=application.account_id,
        application_id=application.id,
        type=doc_type,
        name=name,
        extension=ext,
        filename=safe_filename(name, ext),
        mime_type=MIME_TYPES.get(ext),
        upload_status=status,
        storage_key=storage_key(application.account_id, application.id, document_id),
        created_at=utcnow(),
    )


def presign(runtime: Runtime, document: Document) -> tuple[PresignedPost, str]:
    """A presigned POST for the document's staging key and a fresh upload token (stored as a hash).

    The form never covers the key that is served: ``complete`` copies the staged bytes to a final key.
    """
    token = new_secret(UPLOAD_TOKEN_PREFIX)
    document.upload_token_hash = hash_secret(token)
    upload = runtime.documents.presign_post(
        staging_key(document),
        max_bytes=runtime.settings.max_upload_bytes,
        content_type=document.mime_type or "application/octet-stream",
        expires_in=runtime.settings.upload_url_ttl,
    )
    document.staged_until = upload.expires_at + STAGING_GRACE
    return upload, token


def _verdict(store: Documents, extension: str, key: str, size: int) -> tuple[bool, str | None, str | None]:
    """Read the stored object's first bytes (and its end, and for DOCX its central directory); judge them."""
    head = store.read_head(key, 8192)
    verdict = check_signature(
        extension, head, read_range=lambda start, end: store.read_range(key, start, end), size=size
    )
    return verdict.ok, verdict.mime_type, verdict.reason


def _completable(document: Document | None, upload_token: str) -> Document:
    if document is None:
        raise NotFound("No such document")
    if document.upload_status != "uploading":
        raise Conflict(f"The upload was already completed ({document.upload_status})")
    expected = document.upload_token_hash or ""
    if not hmac.compare_digest(expected, hash_secret(upload_token)):
        raise Forbidden("The upload token does not match this document")
    return document


async def complete_upload(
    uow: UnitOfWork, store: Documents, document_id: uuid.UUID, upload_token: str, *, max_bytes: int
) -> Document:
    """Seal the staged object, check it; uploaded, or rejected and deleted.

    The staged object is first copied server-side to a fresh final key that no presigned form covers,
    and the staging object deleted; the check then reads that final copy, so what was checked is
    exactly what is served, whatever is posted to the form afterwards. No transaction is open while
    S3 answers: the document is checked, its bytes sealed and judged, then it is locked, checked again
    and marked in a second unit of work. A rejection is committed before :class:`UploadRejected` is
    raised: it is the outcome.
    """
    async with uow() as session:
        document = _completable(await session.get(Document, document_id), upload_token)
    staged = staging_key(document)
    final = _checked_key(document)
    extension = document.extension
    try:
        await anyio.to_thread.run_sync(store.copy, staged, final)
    except ObjectMissing:
        raise ValidationFailed(
            "Nothing was uploaded for this document yet",
            errors=[FieldError("/data/id", "no uploaded file found; upload it first", "not_uploaded")],
        ) from None
    try:
        await anyio.to_thread.run_sync(store.delete, staged)
        size = await anyio.to_thread.run_sync(store.head, final)
        reason: str | None = None
        mime_type: str | None = None
        if size > max_bytes:
            reason = f"the file is larger than {max_bytes} bytes"
        else:
            ok, mime_type, reason = await anyio.to_thread.run_sync(_verdict, store, extension, final, size)
            if ok:
                reason = None
        if reason is not None:
            # Object first: if S3 fails, the row stays ``uploading`` and the sweep removes it later.
            await anyio.to_thread.run_sync(store.delete, final)
        async with uow() as session:
            query = select(Document).where(Document.id == document_id).with_for_update()
            document = _completable(await session.scalar(query), upload_token)
            document.upload_token_hash = None
            if reason is not None:
                document.upload_status = "rejected"
                document.size = None
            else:
                document.upload_status = "uploaded"
                document.storage_key = final
                document.size = size
                document.mime_type = mime_type
                document.uploaded_at = utcnow()
            await session.flush()
            if reason is None:
                await _uploaded(session, Principal.public(document.account_id), document)
    except BaseException:
        # This attempt's copy serves nothing (another attempt won, the row is gone, or S3 failed).
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(store.delete, final)
            except Exception:  # the original failure matters more; the key is under the application's prefix
                log.warning("could not remove an unused upload copy", exc_info=True)
        raise
    if reason is not None:
        raise UploadRejected(
            f"The upload was rejected: {reason}",
            errors=[FieldError("/data/id", reason, "upload_rejected")],
        )
    return document


async def _uploaded(session: AsyncSession, principal: Principal, document: Document) -> None:
    await touch(session, document.application_id)
    await audit.record(
        session,
        principal,
        "document.uploaded",
        object_type="document",
        object_id=document.id,
        data={"application_id": str(document.application_id), "type": document.type, "size": document.size},
        account_id=document.account_id,
    )
    queue_document_event(session, "document.uploaded", document)


def queue_document_event(session: AsyncSession, name: str, document: Document) -> None:
    """Queue a document event with the document as the application lists it (deleted: as it was)."""
    events.queue(
        session,
        name,
        data=payloads.document(document_view(document, events.api_base(session)), document.application_id),
        document_id=document.id,
        application_id=document.application_id,
        account_id=document.account_id,
    )


def split_extension(filename: str) -> tuple[str, str]:
    """``Lebenslauf.PDF`` → (``Lebenslauf``, ``pdf``)."""
    stem, dot, ext = filename.rpartition(".")
    return (stem, ext.lower()) if dot and stem else (filename, "")


#: The document's foreign key to its application (violated when the application is erased meanwhile).
_DOCUMENT_APPLICATION_FK = "fk_documents_application_id_applications"


async def upload_from_recruiter(
    uow: UnitOfWork,
    store: Documents,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    filename: str,
    doc_type: str,
    fileobj: IO[bytes],
    size: int,
    max_bytes: int,
) -> Document:
    """Stream a recruiter's file to S3 with the same checks; own transactions so no object is orphaned.

    1. check the bytes in the spooled upload; 2. commit the row as ``uploading`` (the sweep knows it);
    3. stream to S3; 4. mark it uploaded. A failure in 3 removes the row; a failure in 4 leaves an
    ``uploading`` row that the sweep removes with its object.
    """
    name, extension = split_extension(filename)
    name = name[:200]
    errors: list[FieldError] = []
    if "\x00" in filename:  # PostgreSQL cannot store NUL in text: refused, not silently altered
        errors.append(FieldError("/file", "the filename must not contain NUL characters", "invalid_character"))
    if doc_type not in DOCUMENT_TYPES:
        errors.append(FieldError("/type", f"must be one of {', '.join(DOCUMENT_TYPES)}"))
    if extension not in ALLOWED_EXTENSIONS:
        errors.append(FieldError("/file", f"the extension must be one of {', '.join(ALLOWED_EXTENSIONS)}"))
    if size <= 0:
        errors.append(FieldError("/file", "the file is empty"))
    elif size > max_bytes:
        errors.append(FieldError("/file", f"the file is larger than {max_bytes} bytes"))
    if errors:
        raise ValidationFailed(errors=errors)

    def check_local() -> str | None:
        fileobj.seek(0)
        head = fileobj.read(8192)

        def read_range(start: int, end: int) -> bytes:
            fileobj.seek(start)
            return fileobj.read(end - start)

        verdict = check_signature(extension, head, read_range=read_range, size=size)
        fileobj.seek(0)
        return None if verdict.ok else verdict.reason

    reason = await anyio.to_thread.run_sync(check_local)
    if reason is not None:
        raise UploadRejected(f"The file was rejected: {reason}", errors=[FieldError("/file", reason)])

    try:
        async with uow() as session:
            application = await get_application_row(session, principal, application_id, permission=Permission.WORK)
            document = new_document(application, name=name or "document", extension=extension, doc_type=doc_type)
            session.add(document)
    except IntegrityError as exc:
        # An erasure of the application committed between the lookup and this insert: it is gone.
        if constraint_name(exc) != _DOCUMENT_APPLICATION_FK:
            raise
        raise NotFound("No such application") from None
    try:
        stored = await anyio.to_thread.run_sync(
            lambda: store.put_stream(
                document.storage_key, fileobj, content_type=document.mime_type or "application/octet-stream"
            )
        )
    except BaseException:
        async with uow() as session:
            await session.execute(delete(Document).where(Document.id == document.id))
        raise
    async with uow() as session:
        row = await session.get(Document, document.id, with_for_update=True)
        if row is not None:
            row.upload_status = "uploaded"
            row.size = stored
            row.uploaded_at = utcnow()
            await session.flush()
            await _uploaded(session, principal, row)
    if row is None:  # the application was erased meanwhile: leave nothing behind
        await anyio.to_thread.run_sync(store.delete, document.storage_key)
        raise NotFound("No such application")
    return row


async def get_document(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    permission: Permission = Permission.READ,
) -> Document:
    application = await get_application_row(session, principal, application_id, permission=permission)
    document = await session.scalar(
        select(Document).where(Document.id == document_id, Document.application_id == application.id)
    )
    if document is None:
        raise NotFound("No such document")
    return document


async def open_download(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    application_id: uuid.UUID,
    document_id: uuid.UUID,
) -> tuple[Document, AsyncIterator[bytes]]:
    """The document and its bytes as an async stream; the download is audited in this transaction."""
    document = await get_document(session, principal, application_id, document_id)
    if document.upload_status != "uploaded":
        raise NotFound("The document has no uploaded content")
    store = runtime.documents
    # Opening the object here (not lazily in the stream) turns a missing object or an S3 outage
    # into a proper error response instead of a broken stream.
    chunks: Iterator[bytes] = await anyio.to_thread.run_sync(store.iter_chunks, document.storage_key)
    first = await anyio.to_thread.run_sync(next, chunks, b"")
    await audit.record(
        session,
        principal,
        "document.downloaded",
        object_type="document",
        object_id=document.id,
        data={"application_id": str(application_id)},
    )
    return document, _stream(first, chunks)


async def _stream(first: bytes, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    try:
        while chunk := await anyio.to_thread.run_sync(next, chunks, b""):
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


async def delete_document(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    application_id: uuid.UUID,
    document_id: uuid.UUID,
) -> None:
    """Row first (in the transaction), then the object; an S3 failure rolls the row back."""
    document = await get_document(session, principal, application_id, document_id, permission=Permission.WORK)
    await session.delete(document)
    await session.flush()
    await touch(session, document.application_id)
    await audit.record(
        session,
        principal,
        "document.deleted",
        object_type="document",
        object_id=document.id,
        data={"application_id": str(application_id)},
    )
    queue_document_event(session, "document.deleted", document)
    # Last: only the commit can fail after this, and it leaves a row whose content is gone (404).
    await anyio.to_thread.run_sync(runtime.documents.delete, document.storage_key)


@dataclass(frozen=True, slots=True)
class SweepResult:
    documents: int
    idempotency_keys: int
    staging_objects: int = 0


async def sweep(uow: UnitOfWork, store: Documents, *, upload_ttl: int, batch: int = 500) -> SweepResult:
    """Remove documents stuck in ``uploading`` past ``ATS_UPLOAD_TTL`` (objects, then row), the staging
    objects of finished (uploaded or rejected) documents whose form has expired, and stale keys.

    No transaction is open while S3 deletes: the stuck documents are read, their objects deleted, then
    the rows that are still stuck are removed. Several processes sweeping at once delete an object twice
    at worst (S3 deletes are idempotent).
    """
    removed = 0
    cutoff = utcnow() - timedelta(seconds=upload_ttl)
    while True:
        async with uow() as session:
            stuck = list(
                (
                    await session.execute(
                        select(
                            Document.id,
                            Document.account_id,
                            Document.application_id,
                            Document.storage_key,
                            Document.created_at,
                        )
                        .where(Document.upload_status == "uploading", Document.created_at < cutoff)
                        .order_by(Document.created_at)
                        .limit(batch)
                    )
                ).all()
            )
        if not stuck:
            break
        for document in stuck:
            # Everything under the document's key: its object, and any sealed copy (``{key}.{suffix}``) that a
            # ``complete`` could not remove when S3 failed during its clean-up.
            key = storage_key(document.account_id, document.application_id, document.id)
            await anyio.to_thread.run_sync(store.delete_prefix, key)
            await anyio.to_thread.run_sync(store.delete, staging_key(document))
        async with uow() as session:
            result: Any = await session.execute(
                delete(Document).where(
                    Document.id.in_([d.id for d in stuck]),
                    Document.upload_status == "uploading",
                    Document.created_at < cutoff,
                )
            )
            removed += int(result.rowcount or 0)
        if len(stuck) < batch:
            break
    staged = await _sweep_staging(uow, store, batch=batch)
    async with uow() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - timedelta(hours=24))
        )
        keys_removed = int(result.rowcount or 0)
    if removed:
        log.info("swept %d unfinished uploads", removed)
    if staged:
        log.info("swept %d staging objects of finished uploads", staged)
    return SweepResult(removed, keys_removed, staged)


async def _sweep_staging(uow: UnitOfWork, store: Documents, *, batch: int) -> int:
    """Delete the staging objects of uploaded or rejected documents whose form can no longer write.

    ``complete`` deletes the staging object it sealed, but the form stays valid until it expires: a
    later POST (a re-upload after a rejection, a swap attempt) leaves a staging object nothing serves.
    Once the form has expired nothing can write there again: delete it and clear ``staged_until``.
    """
    cleared = 0
    while True:
        now = utcnow()
        async with uow() as session:
            due = list(
                (
                    await session.execute(
                        select(Document.id, Document.account_id, Document.application_id)
                        .where(Document.staged_until < now, Document.upload_status != "uploading")
                        .order_by(Document.staged_until)
                        .limit(batch)
                    )
                ).all()
            )
        if not due:
            break
        for document in due:
            await anyio.to_thread.run_sync(store.delete, staging_key(document))
        async with uow() as session:
            await session.execute(
                update(Document).where(Document.id.in_([d.id for d in due])).values(staged_until=None)
            )
        cleared += len(due)
        if len(due) < batch:
            break
    return cleared

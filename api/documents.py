"""Recruiter documents (§7): upload (multipart, streamed to S3), download (streamed), delete."""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, delete, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.errors import FieldError, ValidationFailed
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import documents
from ats.views import DocumentView, document_url

from .deps import account_member, provide_principal, requires
from .schemas import One


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact name as ``filename*``."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class DocumentController(Controller):
    path = "/applications/{application_id:uuid}/documents"
    tags = ["documents"]
    dependencies = {"principal": Provide(provide_principal)}

    @post("/", guards=[account_member], status_code=201)
    async def upload(
        self,
        application_id: uuid.UUID,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
        principal: Principal,
        runtime: Runtime,
    ) -> One[DocumentView]:
        """Multipart ``file`` and ``type``; checked by signature, streamed to S3 from a spooled temp file.

        Answers the created document (its ``url`` downloads it). Takes no request session: the upload's
        own units of work hold no connection while S3 takes the bytes."""
        upload = data.get("file")
        doc_type = data.get("type", "other")
        unknown = sorted(set(data) - {"file", "type"})
        errors = [FieldError(f"/{name}", "is not a known field", "unknown_field") for name in unknown]
        if not isinstance(upload, UploadFile):
            errors.append(FieldError("/file", "a file is required", "required"))
        if not isinstance(doc_type, str):
            errors.append(FieldError("/type", "must be text"))
        if errors:
            raise ValidationFailed(errors=errors)
        assert isinstance(upload, UploadFile) and isinstance(doc_type, str)
        fileobj = upload.file
        fileobj.seek(0, os.SEEK_END)
        size = fileobj.tell()
        fileobj.seek(0)
        row = await documents.upload_from_recruiter(
            runtime.uow,
            runtime.documents,
            principal,
            application_id,
            filename=upload.filename or "document",
            doc_type=doc_type,
            fileobj=fileobj,
            size=size,
            max_bytes=runtime.settings.max_upload_bytes,
        )
        url = document_url(runtime.api_base, row.application_id, row.id)
        return One(DocumentView(row.id, row.type, row.filename, row.mime_type, row.size, row.upload_status, url))

    @get("/{document_id:uuid}", guards=[requires(Permission.READ)])
    async def download(
        self,
        application_id: uuid.UUID,
        document_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> Stream:
        """The bytes, streamed, as an attachment; each download is an audit event."""
        row, body = await documents.open_download(db_session, runtime, principal, application_id, document_id)
        headers = {
            "Content-Disposition": content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }
        if row.size is not None:
            headers["Content-Length"] = str(row.size)
        return Stream(body, media_type=row.mime_type or "application/octet-stream", headers=headers)

    @delete("/{document_id:uuid}", guards=[account_member], status_code=204)
    async def delete_document(
        self,
        application_id: uuid.UUID,
        document_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> None:
        await documents.delete_document(db_session, runtime, principal, application_id, document_id)

"""``POST /public/v1/applicants`` and ``POST /public/v1/applicant_documents/{id}/complete`` (§6)."""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, post
from sqlalchemy.ext.asyncio import AsyncSession

from ats.errors import BadRequest, Conflict, FieldError, RateLimited
from ats.models import Document
from ats.runtime import Runtime
from ats.services import documents, idempotency, public_apply

from .apply_input import parse_apply
from .deps import client_ip
from .jsonapi import JSONAPI, applicant_document_resource, document
from .schemas import Input

SCOPE = "public.apply"
STORAGE_CHECK_MAX_AGE = 2.0  # seconds an "S3 is up" answer is trusted before asking again


def upload_meta(upload: documents.NewUpload) -> dict[str, Any]:
    return {
        "upload": {
            "url": upload.upload.url,
            "fields": upload.upload.fields,
            "expires_at": upload.upload.expires_at,
            "max_bytes": upload.max_bytes,
            "upload_token": upload.upload_token,
        }
    }


def apply_document(result: public_apply.ApplyResult, include: bool, api_base: str) -> dict[str, Any]:
    """``links.self`` (and the 201's ``Location``): the applicant resource, served to recruiters under ``api_base``."""
    body: dict[str, Any] = {
        "data": {
            "id": str(result.application_id),
            "type": "applicant",
            "attributes": {
                "application_stage_id": str(result.stage_id),
                "created_at": result.created_at,
                "email": result.email,
                "name": result.name,
            },
            "relationships": {
                "applicant_documents": {
                    "data": [{"id": str(u.document.id), "type": "applicant_document"} for u in result.uploads]
                }
            },
            "meta": {},
            "links": {"self": f"{api_base}/applicants/{result.application_id}"},
        }
    }
    if include:
        body["included"] = [applicant_document_resource(u.document, upload_meta(u)) for u in result.uploads]
    return body


def _location(body: bytes) -> dict[str, str]:
    """A 201's ``Location``: the created resource's ``links.self`` (JSON:API: the two must match)."""
    created = msgspec.json.decode(body)
    data = created.get("data") if isinstance(created, dict) else None
    link = data.get("links", {}).get("self") if isinstance(data, dict) else None
    return {"Location": link} if isinstance(link, str) else {}


class CompleteAttributes(Input):
    upload_token: str


class CompleteData(Input):
    type: str
    id: uuid.UUID
    attributes: CompleteAttributes


class CompleteRequest(Input):
    data: CompleteData


class PublicApplyController(Controller):
    path = "/"
    tags = ["public"]

    @post("/applicants", media_type=JSONAPI, status_code=201)
    async def apply(
        self,
        request: Request[Any, Any, Any],
        data: dict[str, Any],
        db_session: AsyncSession,
        runtime: Runtime,
        include: str | None = None,
    ) -> Response[bytes]:
        """Apply to an active posting; documents come back with presigned uploads straight to S3.

        Every problem is reported at once (one error each, with ``source.pointer``); nothing is
        created on any failure. ``include`` defaults to ``applicant_documents``: the upload
        instructions are only there.
        """
        ip = client_ip(request, runtime.settings.trusted_proxies)
        wait = await runtime.public_limiter.hit(f"apply:{ip}")
        if wait:
            raise RateLimited(wait, "Too many applications from this address; try again later")
        if include not in (None, "", "applicant_documents"):
            raise BadRequest(
                "Unsupported include",
                errors=[FieldError("include", "only applicant_documents can be included", "unsupported_include")],
            )
        key = request.headers.get("idempotency-key")
        raw = await request.body()
        if key is not None:
            replay = await idempotency.claim(db_session, SCOPE, key, raw)
            if replay is not None:
                return Response(
                    replay.body,
                    status_code=replay.status_code,
                    media_type=JSONAPI,
                    headers=_location(replay.body) if replay.status_code == 201 else None,
                )
        envelope = data.get("data")
        attributes = envelope.get("attributes") if isinstance(envelope, dict) else None
        wants_uploads = isinstance(attributes, dict) and bool(attributes.get("documents"))
        # Uploads go straight to S3: refuse now (503, nothing written) if it cannot take them.
        # A recent answer is enough: one HeadBucket per apply would halve the throughput.
        if wants_uploads and not runtime.documents.answered_within(STORAGE_CHECK_MAX_AGE):
            await anyio.to_thread.run_sync(runtime.documents.ping)
        result = await public_apply.apply(db_session, runtime, parse_apply(data), client_ip=ip)
        body = msgspec.json.encode(apply_document(result, include != "", runtime.api_base))
        if key is not None:
            await idempotency.remember(db_session, SCOPE, key, 201, body, resource_id=result.application_id)
        return Response(body, status_code=201, media_type=JSONAPI, headers=_location(body))

    @post("/applicant_documents/{document_id:uuid}/complete", media_type=JSONAPI, status_code=200)
    async def complete(self, document_id: uuid.UUID, data: CompleteRequest, runtime: Runtime) -> Response[bytes]:
        """Check the stored object's size and real type; ``uploaded``, or ``rejected`` (deleted) with a 422."""
        if data.data.type != "applicant_document":
            raise Conflict(errors=[FieldError("/data/type", "must be 'applicant_document'", "type_mismatch")])
        if data.data.id != document_id:
            raise Conflict(errors=[FieldError("/data/id", "does not match the URL", "id_mismatch")])
        # No request session: the completion's own units of work hold no connection while S3 answers.
        row: Document = await documents.complete_upload(
            runtime.uow,
            runtime.documents,
            document_id,
            data.data.attributes.upload_token,
            max_bytes=runtime.settings.max_upload_bytes,
        )
        return document({"data": applicant_document_resource(row)})

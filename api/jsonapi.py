"""JSON:API 1.1 plumbing: media type negotiation and resource documents."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from ats.errors import DomainError
from ats.models import Document

JSONAPI = "application/vnd.api+json"


class UnsupportedMediaType(DomainError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class NotAcceptable(DomainError):
    status, code, title = 406, "not_acceptable", "Not acceptable"


def check_accept(request: Request[Any, Any, Any]) -> None:
    """406 unless Accept allows JSON:API (bare, without media type parameters) or anything."""
    accept = request.headers.get("accept")
    if not accept:
        return
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if media in ("*/*", "application/*"):
            return
        if media == JSONAPI and not [p for p in params.split(";") if p.strip() and not p.strip().startswith("q=")]:
            return
    raise NotAcceptable(f"This endpoint answers {JSONAPI}")


def check_content_type(request: Request[Any, Any, Any]) -> None:
    """415 unless the body is JSON:API without media type parameters."""
    content_type = request.headers.get("content-type", "")
    media, _, params = content_type.partition(";")
    if media.strip().lower() != JSONAPI or params.strip():
        raise UnsupportedMediaType(f"Send the request body as {JSONAPI}")


async def negotiate(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook for JSON:API routes."""
    check_accept(request)
    if request.method in ("POST", "PATCH", "PUT"):
        check_content_type(request)


def document(body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status_code, media_type=JSONAPI, headers=headers)


def applicant_document_resource(doc: Document, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": str(doc.id),
        "type": "applicant_document",
        "attributes": {
            "applicant_id": str(doc.application_id),
            "extension": doc.extension,
            "name": doc.name,
            "upload_status": doc.upload_status,
        },
        "meta": meta or {},
    }

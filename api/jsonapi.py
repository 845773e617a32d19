"""JSON:API 1.1 plumbing: media type negotiation, resource documents, links and sparse fieldsets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response

from ats.errors import BadRequest, DomainError, FieldError
from ats.models import Document

JSONAPI = "application/vnd.api+json"
#: Media type parameters JSON:API 1.1 defines; any other one on the JSON:API media type is refused (415/406).
JSONAPI_PARAMETERS = frozenset({"ext", "profile"})


class UnsupportedMediaType(DomainError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class NotAcceptable(DomainError):
    status, code, title = 406, "not_acceptable", "Not acceptable"


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    """``application/vnd.api+json; profile="a b"`` → (media type, {parameter: value}), names lowercased."""
    media, *raw = value.split(";")
    params: dict[str, str] = {}
    for item in raw:
        name, _, val = item.strip().partition("=")
        if name.strip():
            params[name.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def _jsonapi_params_ok(params: Mapping[str, str]) -> bool:
    """Only ``ext`` and ``profile``; profiles are ignored, and no extension is supported, so ``ext`` must be empty."""
    return set(params) <= JSONAPI_PARAMETERS and not params.get("ext", "").strip()


def check_accept(request: Request[Any, Any, Any]) -> None:
    """406 unless Accept allows anything, or holds one JSON:API media type without ``ext`` or unknown parameters.

    ``q`` and what follows it are accept parameters (RFC 9110), not media type parameters.
    """
    accept = request.headers.get("accept")
    if not accept:
        return
    for part in accept.split(","):
        media, params = _media_type(part)
        if media in ("*/*", "application/*"):
            return
        if media == JSONAPI:
            names = list(params)
            media_params = {k: params[k] for k in names[: names.index("q")]} if "q" in params else params
            if _jsonapi_params_ok(media_params):
                return
    raise NotAcceptable(f"This endpoint answers {JSONAPI} (no extensions are supported)")


def check_content_type(request: Request[Any, Any, Any]) -> None:
    """415 unless the body is JSON:API with no parameter but ``profile`` (ignored)."""
    media, params = _media_type(request.headers.get("content-type", ""))
    if media != JSONAPI or not _jsonapi_params_ok(params):
        raise UnsupportedMediaType(f"Send the request body as {JSONAPI} (no extensions are supported)")


async def negotiate(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook for JSON:API routes."""
    check_accept(request)
    if request.method in ("POST", "PATCH", "PUT"):
        check_content_type(request)


def document(body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status_code, media_type=JSONAPI, headers=headers)


def public_base(api_base: str) -> str:
    """The public API's base path beside the recruiter API's (both under the plugin's prefix)."""
    return api_base.removesuffix("/api/v1") + "/public/v1"


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


# -- pagination links -------------------------------------------------------------------------------------------


def page_links(request: Request[Any, Any, Any], path: str, number: int, size: int, total: int) -> dict[str, Any]:
    """``self``/``first``/``prev``/``next``/``last`` for a ``page[number]``/``page[size]`` collection.

    Links are path-absolute references (JSON:API 1.1 allows any URI-reference): built from the route, never from the
    ``Host`` header, so a cached public page cannot be made to point elsewhere. Every other query parameter
    (filters, ``include``, ``fields``) is kept.
    """
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page[number]", "page[size]")]
    last = max(1, math.ceil(total / size))

    def at(page: int) -> str:
        return f"{path}?{urlencode([*kept, ('page[number]', str(page)), ('page[size]', str(size))])}"

    return {
        "self": at(number),
        "first": at(1),
        "prev": at(min(number - 1, last)) if number > 1 else None,
        "next": at(number + 1) if number < last else None,
        "last": at(last),
    }


# -- sparse fieldsets ---------------------------------------------------------------------------------------------


def fieldset(parameter: str, value: str | None, allowed: Iterable[str]) -> frozenset[str] | None:
    """``fields[type]=a,b`` → {a, b}; ``None`` when absent (every field). An unknown field is a 400 naming it."""
    if value is None:
        return None
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    unknown = sorted(names - frozenset(allowed))
    if unknown:
        raise BadRequest(
            f"Unknown field in {parameter}: {', '.join(unknown)}",
            errors=[FieldError(parameter, f"unknown field: {', '.join(unknown)}", "unknown_field")],
        )
    return names


def sparse(resource: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    """The resource with only the requested attributes and relationships (``fields[type]``)."""
    if fields is None:
        return resource
    out = dict(resource)
    for member in ("attributes", "relationships"):
        if member in out:
            kept = {k: v for k, v in out[member].items() if k in fields}
            if kept:
                out[member] = kept
            else:
                del out[member]
    return out

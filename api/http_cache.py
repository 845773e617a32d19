"""Conditional GETs for the public API: a strong ``ETag`` over the encoded document, ``If-None-Match`` → 304."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response

from .jsonapi import JSONAPI

#: Careers pages may reuse a public answer for a minute, then revalidate it with its ETag.
PUBLIC_CACHE_CONTROL = "public, max-age=60"


def etag_of(payload: bytes) -> str:
    return '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison: any listed tag (``W/`` or not) equal to ``etag``, or ``*``."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def cached_document(request: Request[Any, Any, Any], body: dict[str, Any]) -> Response[bytes]:
    """The JSON:API document with ``ETag`` and ``Cache-Control``; 304 with no body when the client has it."""
    payload = msgspec.json.encode(body)
    etag = etag_of(payload)
    headers = {"ETag": etag, "Cache-Control": PUBLIC_CACHE_CONTROL}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(payload, media_type=JSONAPI, headers=headers)

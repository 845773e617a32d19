"""The list's cursor on the wire: opaque to clients, URL-safe base64 of a small JSON array."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import msgspec

from ..errors import FieldError, ValidationFailed


class Cursor(msgspec.Struct, array_like=True):
    """Where the next page starts; ``total`` is the count taken when the walk began (not recounted)."""

    orderby: str
    order: str
    value: Any
    id: uuid.UUID
    page: int
    total: int


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        return msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()), type=Cursor)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise ValidationFailed(errors=[FieldError("cursor", "is not a cursor this API issued")]) from None

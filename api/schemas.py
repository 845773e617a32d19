"""Envelope structs shared by every recruiter endpoint."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: an unknown field is an error naming it."""


class One(msgspec.Struct, Generic[T]):
    data: T


class PageMeta(msgspec.Struct):
    total: int
    per_page: int
    current_page: int
    total_pages: int
    next_cursor: str | None = None


class Many(msgspec.Struct, Generic[T]):
    data: list[T]
    meta: PageMeta | None = None


def whole(items: list[T]) -> Many[T]:
    """A list that is never paged, with the same ``meta`` every list carries."""
    return Many(items, PageMeta(len(items), max(len(items), 1), 1, 1 if items else 0))

"""Page-number paging parameters shared by list endpoints."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta

from ats.errors import BadRequest, FieldError, ValidationFailed

from .schemas import PageMeta

MAX_PER_PAGE = 100


MAX_OFFSET = 2**31 - 1
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(9998, 12, 31)


def check_page(page: int, per_page: int, names: tuple[str, str] = ("page", "per_page")) -> None:
    """``names``: the query parameters as the client sent them (JSON:API: ``page[number]``, ``page[size]``)."""
    errors = []
    if page < 1:
        errors.append(FieldError(names[0], "must be 1 or more"))
    elif (page - 1) * max(per_page, 1) > MAX_OFFSET:
        errors.append(FieldError(names[0], "is too far; use cursor for deep pages"))
    if not 1 <= per_page <= MAX_PER_PAGE:
        errors.append(FieldError(names[1], f"must be between 1 and {MAX_PER_PAGE}"))
    if errors:
        raise ValidationFailed("Invalid paging", errors=errors)


def check_jsonapi_page(number: int, size: int) -> None:
    """JSON:API 1.1: a query parameter the server cannot use is a 400 (``source.parameter`` names it)."""
    try:
        check_page(number, size, ("page[number]", "page[size]"))
    except ValidationFailed as exc:
        raise BadRequest(exc.detail, errors=exc.errors) from None


def page_meta(total: int, page: int, per_page: int, next_cursor: str | None = None) -> PageMeta:
    return PageMeta(total, per_page, page, max(1, math.ceil(total / per_page)) if total else 0, next_cursor)


def day_start(value: date | None) -> datetime | None:
    return datetime.combine(value, time.min, tzinfo=UTC) if value else None


def day_end(value: date | None) -> datetime | None:
    """``date_to`` is inclusive: everything before the next day's midnight."""
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC) if value else None


def check_date_range(date_from: date | None, date_to: date | None) -> None:
    errors = [
        FieldError(name, f"must be between {MIN_DATE} and {MAX_DATE}")
        for name, value in (("date_from", date_from), ("date_to", date_to))
        if value is not None and not MIN_DATE <= value <= MAX_DATE
    ]
    if not errors and date_from and date_to and date_from > date_to:
        errors.append(FieldError("date_from", "must not be after date_to"))
    if errors:
        raise ValidationFailed(errors=errors)


def parse_updated_since(raw: str | None, name: str = "updated_since") -> datetime | None:
    """``updated_since``: an ISO 8601 date-time with its offset (``2025-01-16T09:00:00Z``, ``…+02:00``); 422 otherwise.

    Without an offset the instant is ambiguous, so it is refused rather than guessed. A ``+`` left unencoded in
    the query string arrives as a space: ``…T09:00:00 02:00`` is read as ``+02:00``.
    """
    if raw is None:
        return None
    text = re.sub(r"(T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$", r"\1+\2", raw.strip())
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 date-time with an offset, such as 2025-01-16T09:00:00Z",
            errors=[FieldError(name, "must be an ISO 8601 date-time with an offset (2025-01-16T09:00:00Z)")],
        )
    return value.astimezone(UTC)

"""The bounds of ``custom_fields`` and the answers they hold (§8), one rule for every path that writes them.

Whatever is stored must come back out in every export (JSON, PDF, ZIP): so it is bounded in depth, in keys an
object, in string length and in elements altogether, and its numbers are finite (JSON has no NaN or Infinity).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import FieldError

MAX_DEPTH = 8  # nested objects and arrays, the custom_fields object itself being 1
MAX_KEYS = 100  # members of one object
MAX_STRING = 10_000  # characters of one string, keys included
MAX_ELEMENTS = 1_000  # values altogether, objects and arrays included; keeps an export's size reasonable


def escape(token: str) -> str:
    """One reference token of a JSON Pointer (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def problems(value: Any, pointer: str) -> list[FieldError]:
    """Every way ``value`` (found at JSON Pointer ``pointer``) breaks the bounds, each at the member concerned.

    Walks without recursion and never below :data:`MAX_DEPTH` nor past :data:`MAX_ELEMENTS`, so an input built
    to exhaust the checker costs it no more than one within the bounds. Values are never quoted back.
    """
    found: list[FieldError] = []
    elements = 1
    stack: list[tuple[Any, str, int]] = [(value, pointer, 1)]
    while stack:
        item, here, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                found.append(FieldError(here, f"is nested too deeply: at most {MAX_DEPTH} levels", "too_deep"))
                continue
            # Counted before anything is made of the children: a huge container costs no more than the bound.
            elements += len(item)
            if elements > MAX_ELEMENTS:
                found.append(FieldError(pointer, f"must hold at most {MAX_ELEMENTS} values altogether", "too_large"))
                break
        if isinstance(item, dict):
            if len(item) > MAX_KEYS:
                found.append(FieldError(here, f"must have at most {MAX_KEYS} keys", "too_many_keys"))
            children = []
            for key, child in item.items():
                member = f"{here}/{escape(str(key))}"
                if len(str(key)) > MAX_STRING:
                    found.append(FieldError(member, f"key must be at most {MAX_STRING} characters", "too_long"))
                children.append((child, member, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(child, f"{here}/{index}", depth + 1) for index, child in enumerate(item)]))
        elif isinstance(item, str):
            if len(item) > MAX_STRING:
                found.append(FieldError(here, f"must be at most {MAX_STRING} characters", "too_long"))
        elif isinstance(item, float) and not math.isfinite(item):
            found.append(FieldError(here, "must be a finite number", "invalid"))
    return found

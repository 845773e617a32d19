"""Careers boards: the rules for a board's slug and origins, and a posting's schema.org ``JobPosting``.

Pure functions (no I/O): the services and the public API read them, unit tests call them directly.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from .settings import parse_origin

#: A board slug: lower-case letters, digits and inner hyphens, 2 to 63 characters (a DNS label's shape).
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$"
_SLUG = re.compile(SLUG_PATTERN)
#: How many browser origins one board may allow.
MAX_ORIGINS = 20

# schema.org/Google for Jobs employmentType values for ours.
SCHEMA_EMPLOYMENT_TYPES = {
    "full_time": "FULL_TIME",
    "part_time": "PART_TIME",
    "contract": "CONTRACTOR",
    "internship": "INTERN",
    "temporary": "TEMPORARY",
}
_REMOTE = re.compile(r"\b(remote|telecommute|anywhere)\b", re.IGNORECASE)


def is_slug(value: str) -> bool:
    return _SLUG.fullmatch(value) is not None


def slugify(name: str) -> str:
    """A board slug made from an account name (``ACME GmbH`` → ``acme-gmbh``); ``board`` when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:63].rstrip("-")
    return slug if is_slug(slug) else "board"


def normalize_origins(origins: list[str]) -> list[str]:
    """Origins as browsers send them (lower-case, no path or trailing slash), deduplicated; ValueError names one."""
    if len(origins) > MAX_ORIGINS:
        raise ValueError(f"at most {MAX_ORIGINS} origins")
    return list(dict.fromkeys(parse_origin(origin) for origin in origins))


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def job_posting_json_ld(
    *,
    job_id: str,
    title: str,
    description: str | None,
    employment_type: str,
    location: str | None,
    created_at: datetime,
    closes_at: datetime | None,
    organization: str,
) -> dict[str, Any]:
    """The schema.org ``JobPosting`` of an active posting: Google for Jobs' required and recommended fields.

    ``location`` is free text: one naming remote work is ``jobLocationType: TELECOMMUTE``, any other is the
    ``addressLocality`` of the ``jobLocation``. Postings carry no salary, so there is no ``baseSalary``.
    """
    ld: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "title": title,
        "description": description or title,
        "identifier": {"@type": "PropertyValue", "name": organization, "value": job_id},
        "datePosted": _rfc3339(created_at),
        "employmentType": SCHEMA_EMPLOYMENT_TYPES.get(employment_type, "OTHER"),
        "hiringOrganization": {"@type": "Organization", "name": organization},
        "directApply": True,
    }
    if closes_at is not None:
        ld["validThrough"] = _rfc3339(closes_at)
    if location and _REMOTE.search(location):
        ld["jobLocationType"] = "TELECOMMUTE"
    elif location:
        ld["jobLocation"] = {
            "@type": "Place",
            "address": {"@type": "PostalAddress", "addressLocality": location},
        }
    return ld

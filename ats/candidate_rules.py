"""Pure rules about people (§13): normalising what duplicates are matched on, and how two records merge."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

#: The person's scalar fields a merge decides one by one (the survivor's value wins unless it is empty).
SCALAR_FIELDS = ("name", "salutation", "first_name", "last_name", "street", "postal_code", "city", "country", "source")
#: The person's list fields a merge unites (the survivor's first, nothing lost).
LIST_FIELDS = ("emails", "phones", "links", "tags")
#: Consent is one decision: the stricter of the two records, taken whole.
CONSENT_FIELDS = (
    "consent_privacy_policy",
    "consent_privacy_policy_version",
    "consent_talent_pool",
    "consented_at",
    "consent_ip",
)
TAG_PATTERN = re.compile(r"^[\w][\w .:+#/-]{0,49}$")
MAX_TAGS = 50
MAX_LINKS = 20


def email_key(email: str) -> str:
    """What makes two emails the same person's: trimmed and lower-cased (the unique index's ``lower(email)``)."""
    return email.strip().lower()


def normalise_phone(raw: str | None, region: str | None = None) -> str | None:
    """E.164 (``+4930123456``) when it parses as a possible number, else its digits; None when empty."""
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
        if phonenumbers.is_possible_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    except phonenumbers.NumberParseException:
        pass
    digits = re.sub(r"[^0-9]", "", raw)
    if not digits:
        return None
    return ("+" if raw.strip().startswith("+") else "") + digits


def normalise_link(raw: str) -> str:
    """A profile link as matched: no scheme, no ``www.``, host lower-cased, no query, no trailing slash."""
    value = raw.strip()
    parts = urlsplit(value if "//" in value else "//" + value)
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path.rstrip("/")
    return f"{host}{path}"


def normalise_tag(raw: str) -> str | None:
    """A tag as stored (trimmed, lower-case, inner spaces collapsed), or None when it is not a valid tag."""
    value = " ".join(raw.split()).lower()
    return value if TAG_PATTERN.match(value) else None


def unite(first: list[str], second: list[str], key: Any = None) -> list[str]:
    """Both lists, ``first``'s order kept, an item of ``second`` added unless the same (by ``key``) is there."""
    key = key or (lambda v: v)
    seen = {key(v) for v in first}
    out = list(first)
    for value in second:
        if key(value) not in seen:
            seen.add(key(value))
            out.append(value)
    return out


@dataclass(frozen=True, slots=True)
class ConsentState:
    privacy_policy: bool
    privacy_policy_version: str | None
    talent_pool: bool
    consented_at: datetime | None
    ip_address: str | None


def stricter_consent(a: ConsentState, b: ConsentState) -> ConsentState:
    """The consent that allows less: no talent pool beats talent pool; at a tie the later declaration."""
    if a.talent_pool != b.talent_pool:
        return a if not a.talent_pool else b
    if a.privacy_policy != b.privacy_policy:
        return a if not a.privacy_policy else b
    if a.consented_at is None or b.consented_at is None:
        return a if a.consented_at is not None else b
    return a if a.consented_at >= b.consented_at else b


def consent_of(record: dict[str, Any]) -> ConsentState:
    return ConsentState(
        bool(record.get("consent_privacy_policy")),
        record.get("consent_privacy_policy_version"),
        bool(record.get("consent_talent_pool")),
        record.get("consented_at"),
        record.get("consent_ip"),
    )


def consent_fields(consent: ConsentState) -> dict[str, Any]:
    return {
        "consent_privacy_policy": consent.privacy_policy,
        "consent_privacy_policy_version": consent.privacy_policy_version,
        "consent_talent_pool": consent.talent_pool,
        "consented_at": consent.consented_at,
        "consent_ip": consent.ip_address,
    }


@dataclass(frozen=True, slots=True)
class FieldOutcome:
    field: str
    survivor: Any
    other: Any
    result: Any
    #: ``kept`` (survivor's), ``taken`` (other's filled an empty one), ``united`` (lists), ``stricter`` (consent)
    rule: str
    #: Both had a different non-empty value: the other's is not lost (it stays in the merge record) but not shown.
    conflict: bool


def merge_fields(survivor: dict[str, Any], other: dict[str, Any]) -> tuple[dict[str, Any], list[FieldOutcome]]:
    """The merged person field by field: the survivor's values, the other's where the survivor has none,
    lists united, the stricter consent. Returns the new values (only fields of the rules above) and the outcomes."""
    result: dict[str, Any] = {}
    outcomes: list[FieldOutcome] = []
    for name in SCALAR_FIELDS:
        mine, theirs = survivor.get(name), other.get(name)
        value = mine if mine not in (None, "") else theirs
        rule = "kept" if value == mine else "taken"
        conflict = mine not in (None, "") and theirs not in (None, "") and mine != theirs
        result[name] = value
        outcomes.append(FieldOutcome(name, mine, theirs, value, rule, conflict))
    keys = {"emails": email_key, "links": normalise_link}
    for name in LIST_FIELDS:
        mine_list, theirs_list = list(survivor.get(name) or []), list(other.get(name) or [])
        value = unite(mine_list, theirs_list, keys.get(name))
        result[name] = value
        outcomes.append(FieldOutcome(name, mine_list, theirs_list, value, "united", False))
    a, b = consent_of(survivor), consent_of(other)
    chosen = stricter_consent(a, b)
    result.update(consent_fields(chosen))
    outcomes.append(FieldOutcome("consent", a, b, chosen, "stricter", a.talent_pool != b.talent_pool))
    return result, outcomes


def undo_values(before: dict[str, Any], merged: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The survivor's fields after an undo: what the merge set goes back to ``before``; a field changed
    since the merge (``now`` differs from ``merged``) keeps its new value. Lists lose what the merge added,
    keep what was added since."""
    out: dict[str, Any] = {}
    for name, merged_value in merged.items():
        current = now.get(name)
        if name in LIST_FIELDS:
            added_by_merge = [v for v in merged_value if v not in (before.get(name) or [])]
            out[name] = [v for v in (current or []) if v not in added_by_merge]
        elif current == merged_value:
            out[name] = before.get(name)
        else:
            out[name] = current
    return out


def duplicate_score(reasons: dict[str, float]) -> float:
    """How likely two records are one person, from each reason's own weight: ``1 - Π(1 - w)``, 3 decimals."""
    remaining = 1.0
    for weight in reasons.values():
        remaining *= 1.0 - max(0.0, min(1.0, weight))
    return round(1.0 - remaining, 3)

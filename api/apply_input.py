"""The public apply's JSON:API document, parsed into the domain's :class:`ApplyInput` (§6).

Every problem of the document is collected (one error each, with its ``source.pointer``); the service adds the
posting's own problems and fails once with all of them.
"""

from __future__ import annotations

import uuid
from typing import Any

from ats.errors import Conflict, ErrorCollector, FieldError, Forbidden
from ats.services.public_apply import BASE, ApplyInput, ApplyRequest, DocumentRequest
from ats.vocabulary import DOCUMENT_TYPES, UPLOAD_EXTENSIONS, is_email

MAX_DOCUMENTS = 10
ATTRIBUTES = frozenset(
    {
        "name",
        "email",
        "job_posting_id",
        "documents",
        "phone",
        "cover_letter",
        "custom_fields",
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "consent",
    }
)
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
DOCUMENT_KEYS = frozenset({"extension", "name", "type"})
CONSENT_KEYS = frozenset({"privacy_policy", "privacy_policy_version", "talent_pool"})


def _string(
    errors: ErrorCollector,
    attrs: dict[str, Any],
    key: str,
    *,
    required: bool,
    max_length: int,
    pointer: str = BASE,
) -> str | None:
    value = attrs.get(key)
    if value is None:
        if required:
            errors.add(f"{pointer}/{key}", "is required", "required")
        return None
    if not isinstance(value, str):
        errors.add(f"{pointer}/{key}", "must be a string")
        return None
    value = value.strip()
    if required and not value:
        errors.add(f"{pointer}/{key}", "must not be empty", "required")
    elif len(value) > max_length:
        errors.add(f"{pointer}/{key}", f"must be at most {max_length} characters", "too_long")
    return value or None


def _unknown(errors: ErrorCollector, value: dict[str, Any], allowed: frozenset[str], pointer: str) -> None:
    for key in sorted(set(value) - allowed):
        errors.add(f"{pointer}/{key}", "is not a known attribute", "unknown_field")


def parse_document(body: Any, errors: ErrorCollector) -> dict[str, Any] | None:
    """The JSON:API envelope: ``{"data": {"type": "applicant", "attributes": {...}}}``."""
    if not isinstance(body, dict):
        errors.add("", "the document must be a JSON object")
        return None
    _unknown(errors, body, frozenset({"data", "meta", "jsonapi"}), "")
    data = body.get("data")
    if not isinstance(data, dict):
        errors.add("/data", "is required and must be an object", "required")
        return None
    _unknown(errors, data, frozenset({"type", "attributes", "id", "meta"}), "/data")
    if "type" not in data:
        errors.add("/data/type", "is required", "required")
    elif data["type"] != "applicant":
        # JSON:API 1.1: a resource of another type than the collection's is a 409, not a validation error.
        raise Conflict(errors=[FieldError("/data/type", "must be 'applicant'", "type_mismatch")])
    if "id" in data:
        raise Forbidden(
            "Client-generated ids are not supported",
            errors=[FieldError("/data/id", "client-generated ids are not supported", "client_id_forbidden")],
        )
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        errors.add("/data/attributes", "is required and must be an object", "required")
        return None
    return attrs


def validate(attrs: dict[str, Any], errors: ErrorCollector) -> ApplyRequest | None:
    """Shape and values of every attribute; the posting's own rules come after."""
    _unknown(errors, attrs, ATTRIBUTES, BASE)
    name = _string(errors, attrs, "name", required=True, max_length=300)
    email = _string(errors, attrs, "email", required=True, max_length=320)
    if email and not is_email(email):
        errors.add(f"{BASE}/email", "is not an email address")
    job_id: uuid.UUID | None = None
    raw_job = attrs.get("job_posting_id")
    if raw_job is None:
        errors.add(f"{BASE}/job_posting_id", "is required", "required")
    else:
        try:
            job_id = uuid.UUID(str(raw_job)) if isinstance(raw_job, str) else None
        except ValueError:
            job_id = None
        if job_id is None:
            errors.add(f"{BASE}/job_posting_id", "must be a job posting id")
    phone = _string(errors, attrs, "phone", required=False, max_length=50)
    cover_letter = _string(errors, attrs, "cover_letter", required=False, max_length=100_000)
    source = _string(errors, attrs, "source", required=False, max_length=100)
    # Campaign tags as the careers page read them from its own query string (free text, like the UTM convention).
    utm = {key: _string(errors, attrs, key, required=False, max_length=100) or None for key in UTM_KEYS}
    custom = attrs.get("custom_fields", {})
    if custom is None:
        custom = {}
    if not isinstance(custom, dict):
        errors.add(f"{BASE}/custom_fields", "must be an object")
        custom = {}
    docs = _documents(attrs.get("documents", []), errors)
    version, talent_pool = _consent(attrs.get("consent"), errors)
    if errors.errors or name is None or email is None or job_id is None or version is None:
        return None
    return ApplyRequest(name, email, job_id, docs, phone, cover_letter, custom, source, version, talent_pool, utm)


def _documents(raw: Any, errors: ErrorCollector) -> list[DocumentRequest]:
    pointer = f"{BASE}/documents"
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add(pointer, "must be a list")
        return []
    if len(raw) > MAX_DOCUMENTS:
        errors.add(pointer, f"at most {MAX_DOCUMENTS} documents")
    found = []
    for index, item in enumerate(raw):
        here = f"{pointer}/{index}"
        if not isinstance(item, dict):
            errors.add(here, "must be an object")
            continue
        _unknown(errors, item, DOCUMENT_KEYS, here)
        extension = _string(errors, item, "extension", required=True, max_length=8, pointer=here)
        name = _string(errors, item, "name", required=True, max_length=200, pointer=here)
        doc_type = _string(errors, item, "type", required=False, max_length=20, pointer=here) or "other"
        if extension is not None and extension.lower().lstrip(".") not in UPLOAD_EXTENSIONS:
            errors.add(f"{here}/extension", f"must be one of {', '.join(UPLOAD_EXTENSIONS)}", "invalid_extension")
        if doc_type not in DOCUMENT_TYPES:
            errors.add(f"{here}/type", f"must be one of {', '.join(DOCUMENT_TYPES)}")
        if extension and name:
            found.append(DocumentRequest(extension.lower().lstrip("."), name, doc_type))
    return found


def _consent(raw: Any, errors: ErrorCollector) -> tuple[str | None, bool]:
    pointer = f"{BASE}/consent"
    if not isinstance(raw, dict):
        errors.add(pointer, "is required and must be an object", "required")
        return None, False
    _unknown(errors, raw, CONSENT_KEYS, pointer)
    if raw.get("privacy_policy") is not True:
        errors.add(
            f"{pointer}/privacy_policy",
            "must be true: the privacy policy has to be accepted",
            "consent_required",
        )
    version = _string(errors, raw, "privacy_policy_version", required=True, max_length=50, pointer=pointer)
    talent_pool = raw.get("talent_pool", False)
    if not isinstance(talent_pool, bool):
        errors.add(f"{pointer}/talent_pool", "must be true or false")
        talent_pool = False
    return version, talent_pool


def parse_apply(body: Any) -> ApplyInput:
    """The document's attributes, checked; what the posting checks need is kept even when something is wrong."""
    errors = ErrorCollector()
    attrs = parse_document(body, errors)
    if attrs is None:
        return ApplyInput(None, None, {}, errors.errors)
    request = validate(attrs, errors)
    custom = attrs.get("custom_fields")
    return ApplyInput(
        request, _maybe_uuid(attrs.get("job_posting_id")), custom if isinstance(custom, dict) else {}, errors.errors
    )


def _maybe_uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None

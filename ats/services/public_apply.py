"""The public apply (§6): every rule checked, every problem reported at once, nothing created on failure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ats.storage.filetypes import ALLOWED_EXTENSIONS

from ..auth import Principal
from ..errors import ErrorCollector
from ..models import Document, JobPosting
from ..runtime import Runtime
from ..vocabulary import DOCUMENT_TYPES, is_email
from . import applications, documents, jobs
from .stages import stages_of

BASE = "/data/attributes"
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
        "consent",
    }
)
DOCUMENT_KEYS = frozenset({"extension", "name", "type"})
CONSENT_KEYS = frozenset({"privacy_policy", "privacy_policy_version", "talent_pool"})


@dataclass
class DocumentRequest:
    extension: str
    name: str
    type: str


@dataclass
class ApplyRequest:
    name: str
    email: str
    job_posting_id: uuid.UUID
    documents: list[DocumentRequest]
    phone: str | None
    cover_letter: str | None
    custom_fields: dict[str, Any]
    source: str | None
    privacy_policy_version: str
    talent_pool: bool


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
        errors.add("/data/type", "must be 'applicant'")
    if "id" in data:
        errors.add("/data/id", "client-generated ids are not supported", "forbidden")
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
    return ApplyRequest(name, email, job_id, docs, phone, cover_letter, custom, source, version, talent_pool)


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
        if extension is not None and extension.lower().lstrip(".") not in ALLOWED_EXTENSIONS:
            errors.add(f"{here}/extension", f"must be one of {', '.join(ALLOWED_EXTENSIONS)}", "invalid_extension")
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


def check_answers(job: JobPosting, custom: dict[str, Any], errors: ErrorCollector) -> None:
    """Required questions answered, every answer of the question's type (answers live in custom_fields)."""
    for question in job.application_questions:
        key = question["key"]
        pointer = f"{BASE}/custom_fields/{key}"
        value = custom.get(key)
        if value is None or value == "":
            if question.get("required"):
                errors.add(pointer, f"'{question['label']}' must be answered", "required")
            continue
        qtype = question["type"]
        if qtype == "text" and not isinstance(value, str):
            errors.add(pointer, "must be text")
        elif qtype == "boolean" and not isinstance(value, bool):
            errors.add(pointer, "must be true or false")
        elif qtype == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.add(pointer, "must be a number")
        elif qtype == "date" and not _is_date(value):
            errors.add(pointer, "must be a date (YYYY-MM-DD)")
        elif qtype == "choice" and value not in (question.get("choices") or []):
            errors.add(pointer, f"must be one of {', '.join(question.get('choices') or [])}")


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


@dataclass
class ApplyResult:
    application_id: uuid.UUID
    stage_id: uuid.UUID
    created_at: Any
    email: str
    name: str
    uploads: list[documents.NewUpload]


async def apply(session: AsyncSession, runtime: Runtime, body: Any, *, client_ip: str) -> ApplyResult:
    """Validate everything, then create the application, its documents and their presigned uploads."""
    errors = ErrorCollector()
    attrs = parse_document(body, errors)
    request = validate(attrs, errors) if attrs is not None else None
    job = None
    if attrs is not None:
        raw_job = attrs.get("job_posting_id")
        job_id = _maybe_uuid(raw_job)
        if job_id is not None:
            job = await jobs.get_active_job(session, job_id, lock=True)
            if job is None:
                errors.add(f"{BASE}/job_posting_id", "no open job posting has this id", "not_open")
        if job is not None:
            custom = attrs.get("custom_fields")
            check_answers(job, custom if isinstance(custom, dict) else {}, errors)
    errors.raise_if_any("The application is invalid")
    assert request is not None and job is not None
    principal = Principal.public(job.account_id)
    application = await applications.create_application(
        session,
        principal,
        job,
        candidate={"name": request.name, "email": request.email, "phone": request.phone},
        cover_letter=request.cover_letter,
        custom_fields=request.custom_fields,
        source=request.source,
        consent=applications.ConsentInput(True, request.privacy_policy_version, request.talent_pool, client_ip),
        email_pointer=f"{BASE}/email",
    )
    uploads = []
    for item in request.documents:
        document: Document = documents.new_document(
            application, name=item.name, extension=item.extension, doc_type=item.type
        )
        upload, token = documents.presign(runtime, document)
        session.add(document)
        uploads.append(documents.NewUpload(document, upload, token, runtime.settings.max_upload_bytes))
    await session.flush()
    stage_id = (await stages_of(session, job.account_id))["new"][0]
    return ApplyResult(application.id, stage_id, application.created_at, application.email, application.name, uploads)


def _maybe_uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None

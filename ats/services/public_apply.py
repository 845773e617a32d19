"""The public apply (§6): every rule checked, every problem reported at once, nothing created on failure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .. import custom_fields as custom_fields_rule
from ..auth import Principal
from ..errors import ErrorCollector, FieldError
from ..models import Document, JobPosting
from ..runtime import Runtime
from ..statements import RowInsert
from . import applications, documents, jobs
from .stages import stages_of

_INSERT_DOCUMENT = RowInsert(Document)

BASE = "/data/attributes"  # the JSON:API pointer of the attributes: the posting's own problems point there too


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
    utm: dict[str, str | None] = field(default_factory=dict)


@dataclass
class ApplyInput:
    """A parsed apply: ``request`` when every attribute is valid, ``problems`` found so far otherwise.

    The posting and the answers to its questions are checked even when something else is wrong, so that every
    problem is reported at once.
    """

    request: ApplyRequest | None
    job_posting_id: uuid.UUID | None
    custom_fields: dict[str, Any]
    problems: list[FieldError] = field(default_factory=list)


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


async def apply(session: AsyncSession, runtime: Runtime, parsed: ApplyInput, *, client_ip: str) -> ApplyResult:
    """Check the posting and the answers too, then create the application, its documents and their uploads."""
    errors = ErrorCollector(list(parsed.problems))
    job = None
    if parsed.job_posting_id is not None:
        job = await jobs.get_active_job(session, parsed.job_posting_id, lock=True)
        if job is None:
            errors.add(f"{BASE}/job_posting_id", "no open job posting has this id", "not_open")
    errors.errors.extend(custom_fields_rule.problems(parsed.custom_fields, f"{BASE}/custom_fields"))
    if job is not None:
        check_answers(job, parsed.custom_fields, errors)
    errors.raise_if_any("The application is invalid")
    request = parsed.request
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
        utm=request.utm,
        consent=applications.ConsentInput(True, request.privacy_policy_version, request.talent_pool, client_ip),
        email_pointer=f"{BASE}/email",
        custom_fields_pointer=f"{BASE}/custom_fields",
        announce=False,
    )
    uploads = []
    for item in request.documents:
        document: Document = documents.new_document(
            application, name=item.name, extension=item.extension, doc_type=item.type
        )
        upload, token = documents.presign(runtime, document)
        uploads.append(documents.NewUpload(document, upload, token, runtime.settings.max_upload_bytes))
    if uploads:  # only inserted: the flush's statement, compiled once (the rows stay out of the session)
        await _INSERT_DOCUMENT.many(session, [u.document for u in uploads])
    await applications.announce_created(session, principal, application, job, [u.document for u in uploads])
    stage_id = (await stages_of(session, job.account_id))["new"][0]
    return ApplyResult(application.id, stage_id, application.created_at, application.email, application.name, uploads)

"""The closed word lists of the domain, each written once.

CHECK constraints (:mod:`ats.models`), the msgspec schemas in ``ats.api`` (and so the OpenAPI enums) and the
services' own checks all read these. Each ``Literal`` is the definition; its tuple is derived from it. Application
statuses live in :mod:`ats.pipeline`, roles in :mod:`ats.roles`; upload extensions belong to storage (it checks the
bytes against them) and are re-exported here.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from ats.storage.filetypes import ALLOWED_EXTENSIONS, MIME_TYPES

__all__ = [
    "DOCUMENT_TYPES",
    "EMAIL_PATTERN",
    "EMPLOYMENT_TYPES",
    "ERASURE_REASONS",
    "JOB_STATUSES",
    "MIME_TYPES",
    "QUESTION_TYPES",
    "UPLOAD_EXTENSIONS",
    "UPLOAD_STATUSES",
    "WEBHOOK_EVENT_TYPES",
    "DocumentType",
    "EmploymentType",
    "ErasureReason",
    "JobStatus",
    "QuestionType",
    "WebhookEventType",
    "is_email",
]

JobStatus = Literal["draft", "published", "closed"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)

EmploymentType = Literal["full_time", "part_time", "contract", "internship", "temporary"]
EMPLOYMENT_TYPES: tuple[str, ...] = get_args(EmploymentType)

DocumentType = Literal["cv", "cover_letter", "certificate", "other"]
DOCUMENT_TYPES: tuple[str, ...] = get_args(DocumentType)

UploadStatus = Literal["uploading", "uploaded", "rejected"]
UPLOAD_STATUSES: tuple[str, ...] = get_args(UploadStatus)

QuestionType = Literal["text", "boolean", "date", "number", "choice"]
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)

UPLOAD_EXTENSIONS: tuple[str, ...] = ALLOWED_EXTENSIONS

# Why an application was erased (§8). A code, never free text: the audit log keeps it forever and cannot
# forget a name or an email typed into it.
ErasureReason = Literal[
    "candidate_request",
    "consent_withdrawn",
    "retention",
    "duplicate",
    "legal_obligation",
    "unlawful_processing",
    "other",
]
ERASURE_REASONS: tuple[str, ...] = get_args(ErasureReason)

# The event types a webhook subscription may name (§12): the outbox's domain events and the candidate events of
# §13. ``*`` subscribes to every type, present and future. ``webhook.ping`` is sent by ``POST …/ping`` only.
WebhookEventType = Literal[
    "application.created",
    "application.status_changed",
    "application.updated",
    "application.erased",
    "note.created",
    "note.updated",
    "note.deleted",
    "rating.set",
    "document.uploaded",
    "document.deleted",
    "job.created",
    "job.updated",
    "job.deleted",
    "candidate.created",
    "candidate.updated",
    "candidate.merged",
    "candidate.erased",
    "candidate.merge_undone",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
WEBHOOK_ALL_EVENTS = "*"
WEBHOOK_PING = "webhook.ping"

# One rule for every email the service accepts: something, one @, a domain with a dot, no spaces.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_EMAIL = re.compile(EMAIL_PATTERN)


def is_email(value: str) -> bool:
    """Whether ``value`` passes :data:`EMAIL_PATTERN` (the schemas' ``pattern`` is the same rule)."""
    return _EMAIL.match(value) is not None

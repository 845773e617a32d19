"""The read model: what the recruiter API returns for an application (§5), as msgspec structs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class Ref(msgspec.Struct):
    id: uuid.UUID
    name: str | None


class JobRef(msgspec.Struct):
    id: uuid.UUID
    title: str


class HistoryEntry(msgspec.Struct):
    status: str
    changed_at: datetime
    changed_by: Ref | None
    note: str | None
    reason: str | None


class Address(msgspec.Struct):
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None


class Candidate(msgspec.Struct):
    name: str
    salutation: str | None
    first_name: str | None
    last_name: str | None
    email: str
    phone: str | None
    address: Address


class DocumentView(msgspec.Struct):
    id: uuid.UUID
    type: str
    filename: str
    mime_type: str | None
    size: int | None
    upload_status: str
    url: str


def document_url(api_base: str, application_id: uuid.UUID, document_id: uuid.UUID) -> str:
    """Where the recruiter API serves a document, under ``api_base`` (the plugin's prefix + ``/api/v1``)."""
    return f"{api_base}/applications/{application_id}/documents/{document_id}"


class NoteView(msgspec.Struct):
    id: uuid.UUID
    content: str
    internal: bool
    author: Ref | None
    created_at: datetime
    updated_at: datetime


class Consent(msgspec.Struct):
    privacy_policy: bool
    privacy_policy_version: str | None
    talent_pool: bool
    consented_at: datetime | None
    ip_address: str | None


class ApplicationView(msgspec.Struct):
    id: uuid.UUID
    job: JobRef
    status: str
    stage: Ref
    status_history: list[HistoryEntry]
    candidate: Candidate
    documents: list[DocumentView]
    cover_letter: str | None
    custom_fields: dict[str, Any]
    rating: float | None
    rating_count: int
    notes: list[NoteView]
    consent: Consent
    source: str | None
    legal_hold: bool
    version: int
    created_at: datetime
    updated_at: datetime
    # Where the application came from beyond ``source`` (§13): campaign tags of the public apply, a referring user.
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer_id: uuid.UUID | None = None


class RatingView(msgspec.Struct):
    reviewer: Ref
    rating: int
    criteria: dict[str, int]
    created_at: datetime
    updated_at: datetime


class RatingSummary(msgspec.Struct):
    rating: int
    criteria: dict[str, int]
    average: float | None
    count: int


class QuestionOut(msgspec.Struct):
    key: str
    label: str
    type: str
    required: bool
    choices: list[str] | None


def questions_out(stored: list[dict[str, Any]]) -> list[QuestionOut]:
    return [QuestionOut(q["key"], q["label"], q["type"], bool(q.get("required")), q.get("choices")) for q in stored]


class Job(msgspec.Struct):
    """A job posting as the recruiter API returns it (§3); built by :func:`ats.services.jobs.view`."""

    id: uuid.UUID
    title: str
    description: str | None
    location: str | None
    department: str | None
    employment_type: str
    status: str
    active: bool
    closes_at: datetime | None
    hiring_team: list[uuid.UUID]
    application_questions: list[QuestionOut]
    created_at: datetime
    updated_at: datetime


class CandidateApplication(msgspec.Struct):
    id: uuid.UUID
    job: JobRef
    status: str


class CandidateView(msgspec.Struct):
    """A person (§13): the candidate across their applications."""

    id: uuid.UUID
    name: str
    salutation: str | None
    first_name: str | None
    last_name: str | None
    email: str
    emails: list[str]
    phones: list[str]
    address: Address
    links: list[str]
    tags: list[str]
    source: str | None
    consent: Consent
    version: int
    created_at: datetime
    updated_at: datetime
    applications: list[CandidateApplication]


class TagCount(msgspec.Struct):
    tag: str
    count: int

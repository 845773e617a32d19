"""Event payloads (§12): an object's state at the moment of its event, as an admin reads it; built here only.

- ``application.created``, ``.status_changed``, ``.updated``: the application exactly as
  ``GET /api/v1/applications/{id}`` returns it (§5);
- ``note.created``, ``.updated``, ``.deleted``: the note as the notes endpoints return it, plus
  ``application_id`` (deleted: as it was);
- ``rating.set``: the reviewer's rating as ``GET …/ratings`` lists it, plus ``application_id``, ``average``
  and ``count``;
- ``document.uploaded``, ``.deleted``: the document as the application lists it (§5), plus ``application_id``;
- ``job.created``, ``.updated``, ``.deleted``: the posting as ``GET /api/v1/jobs/{id}`` returns it (§3;
  deleted: as it was);
- ``application.erased``: ids only, ``application_id`` and ``job_id``;
- ``candidate.created``, ``.updated``: the person as ``GET /api/v1/candidates/{id}`` returns it to an admin (§13:
  every application of theirs);
- ``candidate.merged``: the survivor as it reads after the merge, plus ``merged_id`` and ``merge_id``;
- ``candidate.merge_undone``: the survivor as restored, plus ``merged_id``, ``merge_id`` and ``restored`` (the
  other person, restored);
- ``candidate.erased``: ids only, ``candidate_id``.

Erasing an application replaces the ``data`` of its earlier events with :data:`REDACTED_SQL` (ids only); erasing
a person does the same to the events about them with :data:`REDACTED_CANDIDATE_SQL`.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from .views import ApplicationView, CandidateView, DocumentView, Job, NoteView, RatingView


def _json(struct: msgspec.Struct) -> dict[str, Any]:
    """The struct as the API encodes it (UUIDs and RFC 3339 times as strings), as JSON values."""
    value: dict[str, Any] = msgspec.to_builtins(struct)
    return value


def application(view: ApplicationView) -> dict[str, Any]:
    return _json(view)


def note(view: NoteView, application_id: uuid.UUID) -> dict[str, Any]:
    return {**_json(view), "application_id": str(application_id)}


def rating(view: RatingView, application_id: uuid.UUID, *, average: float | None, count: int) -> dict[str, Any]:
    return {**_json(view), "application_id": str(application_id), "average": average, "count": count}


def document(view: DocumentView, application_id: uuid.UUID) -> dict[str, Any]:
    return {**_json(view), "application_id": str(application_id)}


def job(view: Job) -> dict[str, Any]:
    return _json(view)


def candidate(view: CandidateView) -> dict[str, Any]:
    return _json(view)


def candidate_merged(view: CandidateView, *, merged_id: uuid.UUID, merge_id: uuid.UUID) -> dict[str, Any]:
    return {**_json(view), "merged_id": str(merged_id), "merge_id": str(merge_id)}


def candidate_merge_undone(
    view: CandidateView, restored: CandidateView, *, merged_id: uuid.UUID, merge_id: uuid.UUID
) -> dict[str, Any]:
    return {**_json(view), "merged_id": str(merged_id), "merge_id": str(merge_id), "restored": _json(restored)}


def erased(application_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any]:
    """The tombstone of an erased application: ids only."""
    return {"application_id": str(application_id), "job_id": str(job_id)}


#: What an erased application's earlier events keep (SQL over an ``outbox_events`` row): the object's own id,
#: the application's and the posting's, and ``redacted: true``. Nothing the person wrote or is.
REDACTED_SQL = (
    "jsonb_strip_nulls(jsonb_build_object("
    "'id', CASE WHEN jsonb_typeof(data->'id') = 'string' THEN data->'id' END, "
    "'application_id', application_id, 'job_id', job_id, 'redacted', true))"
)

#: What a person's earlier events keep once the person is erased: the candidate's id, a merge's ids, and
#: ``redacted: true``.
REDACTED_CANDIDATE_SQL = (
    "jsonb_strip_nulls(jsonb_build_object("
    "'candidate_id', candidate_id, "
    "'merged_id', CASE WHEN jsonb_typeof(data->'merged_id') = 'string' THEN data->'merged_id' END, "
    "'merge_id', CASE WHEN jsonb_typeof(data->'merge_id') = 'string' THEN data->'merge_id' END, "
    "'redacted', true))"
)

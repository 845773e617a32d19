"""The plain view model of an application export, and its JSON rendering.

Step one of an export gathers an :class:`ExportBundle` from the database; everything after that
(JSON, PDF, ZIP) is pure and works on the bundle alone, so it can run off the event loop.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import msgspec

SCHEMA_ID = "https://ats.invalid/schemas/application-export-v1.json"
SCHEMA_RESOURCE = "schema/application-export-v1.json"


@dataclass(frozen=True, slots=True)
class ExportDocument:
    id: uuid.UUID
    type: str
    filename: str
    mime_type: str | None
    size: int | None
    upload_status: str
    created_at: datetime
    extension: str | None = None
    uploaded_at: datetime | None = None
    name: str | None = None  # the name the applicant gave it ("Resume")


@dataclass(frozen=True, slots=True)
class ExportNote:
    id: uuid.UUID
    content: str
    internal: bool
    author_name: str | None
    created_at: datetime
    updated_at: datetime
    author_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ExportHistoryEntry:
    status: str
    changed_at: datetime
    changed_by_name: str | None
    note: str | None
    reason: str | None
    id: uuid.UUID | None = None
    from_status: str | None = None
    changed_by_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ExportRating:
    reviewer_name: str | None
    rating: int
    criteria: dict[str, int]
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID | None = None
    reviewer_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ExportWebhookDelivery:
    """Where the application's data was sent by a webhook (§12): the receiver's URL, the event, when."""

    url: str
    event_type: str
    delivered_at: datetime


@dataclass(frozen=True, slots=True)
class ExportPrivacy:
    """What an Art. 15 GDPR answer says besides the data: who holds it, for how long, and where to complain."""

    controller_name: str
    controller_email: str | None = None
    controller_address: str | None = None
    dpo_email: str | None = None
    supervisory_authority: str | None = None
    retention_days: int = 180  # after the application is rejected or withdrawn
    talent_pool_days: int = 730  # after talent-pool consent
    # The day the data is due for erasure, when that is known already (the application is closed).
    retention_ends: datetime | None = None
    legal_hold: bool = False


@dataclass(frozen=True, slots=True)
class ExportBundle:
    """Everything one export shows. ``application`` and ``job`` hold every stored column, by name."""

    application: dict[str, Any]
    job: dict[str, Any]
    history: Sequence[ExportHistoryEntry]
    ratings: Sequence[ExportRating]
    notes: Sequence[ExportNote]
    documents: Sequence[ExportDocument]
    generated_at: datetime
    include_internal: bool
    privacy: ExportPrivacy | None = None
    webhook_deliveries: Sequence[ExportWebhookDelivery] = ()

    def visible_notes(self) -> list[ExportNote]:
        """The notes this export may show: internal ones only when ``include_internal`` is set."""
        if self.include_internal:
            return list(self.notes)
        return [note for note in self.notes if not note.internal]


@dataclass(frozen=True, slots=True)
class PersonExport:
    """A person's whole record (§13): their candidate columns, one bundle per application, and where the events
    about the person themself were sent (each application's deliveries are in its bundle)."""

    candidate: dict[str, Any]
    applications: Sequence[ExportBundle]
    generated_at: datetime
    include_internal: bool
    webhook_deliveries: Sequence[ExportWebhookDelivery] = ()

    def all_deliveries(self) -> list[ExportWebhookDelivery]:
        """Every delivery concerning the person, the person's own and their applications', oldest first."""
        every = [*self.webhook_deliveries, *(d for b in self.applications for d in b.webhook_deliveries)]
        return sorted(every, key=lambda d: as_utc(d.delivered_at))


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _plain(value: Any) -> Any:
    """Builtins only, datetimes in UTC, mapping keys sorted so equal bundles give equal bytes."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, Mapping):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return {k: _plain(v) for k, v in items}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _enc_hook(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def to_document(bundle: ExportBundle) -> dict[str, Any]:
    """The export as builtins, in the published schema's shape (``data.json``)."""
    return {
        "schema": SCHEMA_ID,
        "generated_at": as_utc(bundle.generated_at),
        "application": _plain(bundle.application),
        "job": _plain(bundle.job),
        "status_history": [_plain(entry) for entry in bundle.history],
        "ratings": [_plain(rating) for rating in bundle.ratings],
        "notes": [_plain(note) for note in bundle.visible_notes()],
        "documents": [_plain(document) for document in bundle.documents],
        "webhook_deliveries": [_plain(sent) for sent in bundle.webhook_deliveries],
    }


def to_json_bytes(bundle: ExportBundle) -> bytes:
    """``data.json``: RFC 3339 UTC timestamps (``Z``), UUIDs as strings, keys in a stable order."""
    return _encoder.encode(to_document(bundle))


PERSON_SCHEMA_ID = "https://ats.invalid/schemas/candidate-export-v1.json"


def person_to_json_bytes(export: PersonExport) -> bytes:
    """A person's ``data.json``: the candidate, then each application as its own export document."""
    return _encoder.encode(
        {
            "schema": PERSON_SCHEMA_ID,
            "generated_at": as_utc(export.generated_at),
            "candidate": _plain(export.candidate),
            "applications": [to_document(bundle) for bundle in export.applications],
            "webhook_deliveries": [_plain(sent) for sent in export.webhook_deliveries],
        }
    )


def json_schema() -> bytes:
    """The published JSON Schema (draft 2020-12) that :func:`to_json_bytes` output conforms to."""
    return resources.files("exports").joinpath(SCHEMA_RESOURCE).read_bytes()

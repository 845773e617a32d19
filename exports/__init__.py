"""GDPR exports of one application: gather an :class:`ExportBundle`, render off the loop, stream."""

from .model import (
    SCHEMA_ID,
    ExportBundle,
    ExportDocument,
    ExportHistoryEntry,
    ExportNote,
    ExportPrivacy,
    ExportRating,
    ExportWebhookDelivery,
    PersonExport,
    json_schema,
    person_to_json_bytes,
    to_document,
    to_json_bytes,
)
from .pdf import render_pdf, render_person_pdf
from .zip import DocumentSource, stream_zip, unique_names

__all__ = [
    "SCHEMA_ID",
    "DocumentSource",
    "ExportBundle",
    "ExportDocument",
    "ExportHistoryEntry",
    "ExportNote",
    "ExportPrivacy",
    "ExportRating",
    "ExportWebhookDelivery",
    "PersonExport",
    "json_schema",
    "person_to_json_bytes",
    "render_pdf",
    "render_person_pdf",
    "stream_zip",
    "to_document",
    "to_json_bytes",
    "unique_names",
]

"""The OpenAPI document, made to say what the API really does, and the docs page, served without a CDN.

Litestar generates the paths and the msgspec schemas (enums and bounds included) from the handlers. What it
cannot see is added here, once, to the generated document: the error statuses each operation answers and their
shape (problem details under ``/api/v1``, JSON:API errors under ``/public/v1`` and ``/api/v1/applicants``), the
JSON:API documents the handlers build by hand, the media types of uploads, downloads and exports, the bearer
scheme, ``additionalProperties: false`` for input structs, summaries and examples. ``finalize`` does it; the
render plugins below serve its result, so ``/schema/openapi.json`` and the docs page show the same document.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar, Request
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from ats.pipeline import STATUSES
from ats.vocabulary import (
    DOCUMENT_TYPES,
    EMPLOYMENT_TYPES,
    MIME_TYPES,
    QUESTION_TYPES,
    UPLOAD_EXTENSIONS,
    UPLOAD_STATUSES,
)

from .edges import edges_middleware
from .errors import JSONAPI, PROBLEM_JSON
from .paging import MAX_PER_PAGE

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler
    from litestar.router import Router

REF = "#/components/schemas/"
BINARY = {"type": "string", "format": "binary"}
UUID = {"type": "string", "format": "uuid"}
DATETIME = {"type": "string", "format": "date-time"}

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` is a stable machine string; `errors` point at each bad field.",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["validation_failed", "not_found", "transition_not_allowed"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "JSON Pointer into the body, or a query name"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
        "allowed": {"type": "array", "items": {"type": "string"}, "description": "valid targets or values"},
    },
}

JSONAPI_ERRORS: dict[str, Any] = {
    "type": "object",
    "description": "A JSON:API 1.1 error document.",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["status", "code", "title"],
                "properties": {
                    "status": {"type": "string", "pattern": "^[45][0-9]{2}$"},
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "source": {
                        "type": "object",
                        "properties": {
                            "pointer": {"type": "string"},
                            "parameter": {"type": "string"},
                            "header": {"type": "string"},
                        },
                    },
                    "meta": {"type": "object"},
                },
            },
        },
        "meta": {"type": "object"},
        "jsonapi": {"type": "object"},
    },
}

# Response resources stay open (no additionalProperties: false): JSON:API lets a server add members.
_IDENTIFIER = {"type": "object", "required": ["id", "type"], "properties": {"id": UUID, "type": {"type": "string"}}}
_UPLOAD = {
    "type": "object",
    "description": "A presigned POST straight to S3; the store refuses bodies past `max_bytes`.",
    "required": ["url", "fields", "expires_at", "max_bytes", "upload_token"],
    "properties": {
        "url": {"type": "string", "format": "uri"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "expires_at": DATETIME,
        "max_bytes": {"type": "integer", "minimum": 1},
        "upload_token": {"type": "string"},
    },
}


def _resource(kind: str, attributes: dict[str, Any], required: list[str], **members: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "type", "attributes"],
        "properties": {
            "id": UUID,
            "type": {"type": "string", "enum": [kind]},
            "attributes": {"type": "object", "required": required, "properties": attributes},
            "links": {"type": "object"},
            "meta": {"type": "object"},
            **members,
        },
    }


def _single(resource: str, included: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "data": {"$ref": REF + resource},
        "links": {"type": "object"},
        "meta": {"type": "object"},
        "jsonapi": {"type": "object"},
    }
    if included:
        properties["included"] = {"type": "array", "items": {"$ref": REF + included}}
    return {"type": "object", "required": ["data"], "properties": properties}


def _collection(resource: str, included: str | None = None) -> dict[str, Any]:
    schema = _single(resource, included)
    schema["properties"]["data"] = {"type": "array", "items": {"$ref": REF + resource}}
    schema["properties"]["meta"] = {
        "type": "object",
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
        },
    }
    return schema


_QUESTION_OUT = {
    "type": "object",
    "required": ["key", "label", "type"],
    "properties": {
        "key": {"type": "string"},
        "label": {"type": "string"},
        "type": {"type": "string", "enum": list(QUESTION_TYPES)},
        "required": {"type": "boolean"},
        "choices": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}

JSONAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": PROBLEM,
    "JsonApiErrors": JSONAPI_ERRORS,
    "ApplicantResource": _resource(
        "applicant",
        {"application_stage_id": UUID, "created_at": DATETIME, "email": {"type": "string"}, "name": {"type": "string"}},
        ["application_stage_id", "created_at", "email", "name"],
        relationships={
            "type": "object",
            "properties": {
                "applicant_documents": {
                    "type": "object",
                    "properties": {"data": {"type": "array", "items": _IDENTIFIER}, "links": {"type": "object"}},
                }
            },
        },
    ),
    "ApplicantDocumentResource": _resource(
        "applicant_document",
        {
            "applicant_id": UUID,
            "extension": {"type": "string", "enum": list(UPLOAD_EXTENSIONS)},
            "name": {"type": "string"},
            "upload_status": {"type": "string", "enum": list(UPLOAD_STATUSES)},
        },
        ["applicant_id", "extension", "name", "upload_status"],
        meta={"type": "object", "properties": {"upload": _UPLOAD}},
    ),
    "JobPostingResource": _resource(
        "job_posting",
        {
            "title": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "location": {"type": ["string", "null"]},
            "department": {"type": ["string", "null"]},
            "employment_type": {"type": "string", "enum": list(EMPLOYMENT_TYPES)},
            "closes_at": {"type": ["string", "null"], "format": "date-time"},
            "application_questions": {"type": "array", "items": _QUESTION_OUT},
            "created_at": DATETIME,
        },
        ["title", "employment_type", "application_questions"],
    ),
    "ApplicantDocument": _single("ApplicantResource", "ApplicantDocumentResource"),
    "ApplicantCollection": _collection("ApplicantResource", "ApplicantDocumentResource"),
    "ApplicantDocumentDocument": _single("ApplicantDocumentResource"),
    "JobPostingDocument": _single("JobPostingResource"),
    "JobPostingCollection": _collection("JobPostingResource"),
    "ApplyRequest": {
        "type": "object",
        "description": "JSON:API document of a public application (§6). Every problem is reported at once.",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {
            "data": {
                "type": "object",
                "required": ["type", "attributes"],
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string", "enum": ["applicant"]},
                    "meta": {"type": "object"},
                    "attributes": {
                        "type": "object",
                        "required": ["name", "email", "job_posting_id", "consent"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 300},
                            "email": {"type": "string", "format": "email", "maxLength": 320},
                            "job_posting_id": UUID,
                            "documents": {
                                "type": "array",
                                "maxItems": 10,
                                "items": {
                                    "type": "object",
                                    "required": ["extension", "name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "extension": {"type": "string", "enum": list(UPLOAD_EXTENSIONS)},
                                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                                        "type": {"type": "string", "enum": list(DOCUMENT_TYPES), "default": "other"},
                                    },
                                },
                            },
                            "phone": {"type": "string", "maxLength": 50},
                            "cover_letter": {"type": "string", "maxLength": 100_000},
                            "custom_fields": {
                                "type": "object",
                                "description": "Answers to the posting's application_questions, by key; depth ≤ 8, "
                                "≤ 100 keys an object, strings ≤ 10 000 characters.",
                            },
                            "source": {"type": "string", "maxLength": 100},
                            "consent": {
                                "type": "object",
                                "required": ["privacy_policy", "privacy_policy_version"],
                                "additionalProperties": False,
                                "properties": {
                                    "privacy_policy": {"type": "boolean", "const": True},
                                    "privacy_policy_version": {"type": "string", "minLength": 1, "maxLength": 50},
                                    "talent_pool": {"type": "boolean", "default": False},
                                },
                            },
                        },
                    },
                },
            },
            "meta": {"type": "object"},
            "jsonapi": {"type": "object"},
        },
    },
    "DocumentUpload": {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {**BINARY, "contentMediaType": "application/octet-stream", "description": "the document's bytes"},
            "type": {"type": "string", "enum": list(DOCUMENT_TYPES), "default": "other"},
        },
    },
}


def _export_schemas() -> dict[str, Any]:
    """The JSON export's own JSON Schema (the one file both use), its ``$defs`` moved into the components."""
    text = resources.files("ats.exports.schema").joinpath("application-export-v1.json").read_text("utf-8")
    text = text.replace('"#/$defs/', f'"{REF}ApplicationExportV1_')
    schema: dict[str, Any] = json.loads(text)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    found = {f"ApplicationExportV1_{name}": sub for name, sub in schema.pop("$defs", {}).items()}
    found["ApplicationExportV1"] = schema
    return found


# ----------------------------------------------------------------------------------------------------------------
# What each operation says about itself beyond what its signature shows.


@dataclass(frozen=True)
class Doc:
    """Summary, description (default: the handler's docstring), extra error statuses, bodies and examples."""

    summary: str
    description: str = ""
    errors: tuple[int, ...] = ()
    request: tuple[str, dict[str, Any]] | None = None  # media type, schema: replaces the generated body
    ok: dict[str, dict[str, Any]] | None = None  # media type -> schema: replaces the generated 2xx content
    request_example: Any = None
    response_example: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF + name}


_APPLY_EXAMPLE = {
    "data": {
        "type": "applicant",
        "attributes": {
            "name": "John Doe",
            "email": "john@example.com",
            "job_posting_id": "1e9f6a43-1c7b-4c55-9f0e-2f1d0c6a9b10",
            "documents": [{"extension": "pdf", "name": "Resume"}],
            "consent": {"privacy_policy": True, "privacy_policy_version": "2025-01", "talent_pool": False},
        },
    }
}
_APPLY_RESPONSE_EXAMPLE = {
    "data": {
        "id": "1e9f6a43-1c7b-4c55-9f0e-2f1d0c6a9b10",
        "type": "applicant",
        "attributes": {
            "application_stage_id": "459e0c1a-7d43-4a52-a1e1-6ad0a3c1f7e2",
            "created_at": "2025-01-16T09:00:00Z",
            "email": "john@example.com",
            "name": "John Doe",
        },
        "relationships": {
            "applicant_documents": {
                "data": [{"id": "890a5a2e-5e0e-4b87-8a1f-1a1f5b2f3c4d", "type": "applicant_document"}]
            }
        },
        "meta": {},
    },
    "included": [
        {
            "id": "890a5a2e-5e0e-4b87-8a1f-1a1f5b2f3c4d",
            "type": "applicant_document",
            "attributes": {
                "applicant_id": "1e9f6a43-1c7b-4c55-9f0e-2f1d0c6a9b10",
                "extension": "pdf",
                "name": "Resume",
                "upload_status": "uploading",
            },
            "meta": {
                "upload": {
                    "url": "https://s3.example.com/ats-documents",
                    "fields": {"key": "staging/…", "policy": "…", "x-amz-signature": "…"},
                    "expires_at": "2025-01-16T10:00:00Z",
                    "max_bytes": 10485760,
                    "upload_token": "…",
                }
            },
        }
    ],
}
_BINARY_DOWNLOAD = {mime: BINARY for mime in sorted({*MIME_TYPES.values(), "application/octet-stream"})}

OPERATIONS: dict[str, Doc] = {
    # auth
    "POST /api/v1/auth/token": Doc(
        "Log in",
        "Exchange an email and password for an access and a refresh token. A wrong email or password is one "
        "generic 401; repeated failures are rate limited (429 with `Retry-After`).",
        errors=(401, 429),
        request_example={"email": "admin@example.com", "password": "correct horse battery staple"},
    ),
    "POST /api/v1/auth/refresh": Doc("Refresh the token pair", errors=(401,)),
    "POST /api/v1/auth/logout": Doc("Log out", "Revoke the caller's token at once."),
    "GET /api/v1/me": Doc("The caller", "The authenticated user or API key with its account."),
    # users and keys
    "GET /api/v1/users": Doc("List users", "Every user of the account (admin)."),
    "POST /api/v1/users": Doc(
        "Create a user",
        "Emails are unique per account, case-insensitively (409). Admin only.",
        errors=(409,),
        request_example={
            "email": "rita@example.com",
            "name": "Rita Recruiter",
            "role": "recruiter",
            "password": "a long passphrase",
        },
    ),
    "GET /api/v1/users/{user_id}": Doc("Get a user", "One user of the account (admin)."),
    "PATCH /api/v1/users/{user_id}": Doc(
        "Update a user", "Partial update of name, role, active or password (admin).", errors=(409,)
    ),
    "DELETE /api/v1/users/{user_id}": Doc(
        "Deactivate a user", "The user can no longer log in; its tokens stop working."
    ),
    "GET /api/v1/api-keys": Doc("List API keys", "The account's API keys, without their secrets (admin)."),
    "POST /api/v1/api-keys": Doc("Create an API key", "The key is shown once, in this answer (admin)."),
    "GET /api/v1/api-keys/{key_id}": Doc("Get an API key", "One API key, without its secret (admin)."),
    "DELETE /api/v1/api-keys/{key_id}": Doc("Revoke an API key", "The key stops working at once (admin)."),
    # webhooks (§12)
    "GET /api/v1/webhooks": Doc("List webhook subscriptions", "The account's subscriptions, without secrets (admin)."),
    "POST /api/v1/webhooks": Doc(
        "Create a webhook subscription",
        "`url` must be https (plain http only with `ATS_WEBHOOKS_ALLOW_HTTP`) and may not name a loopback, private or "
        "link-local address (unless `ATS_WEBHOOKS_ALLOW_PRIVATE`); `events` are event types or `*`; `filters` "
        "limit deliveries to jobs and application statuses. The signing secret (`whsec_…`) is in this answer "
        "only. Deliveries are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).",
        request_example={
            "url": "https://hooks.example.com/ats",
            "events": ["application.created", "application.status_changed"],
            "filters": {"job_ids": [], "statuses": ["interview", "offer"]},
        },
    ),
    "GET /api/v1/webhooks/{webhook_id}": Doc("Get a webhook subscription", "One subscription, without its secret."),
    "PATCH /api/v1/webhooks/{webhook_id}": Doc(
        "Update a webhook subscription",
        "Partial update of `url`, `events`, `filters`, `active`. Setting `active: true` again restarts a "
        "subscription the service disabled (410, or 5 days of failures).",
    ),
    "DELETE /api/v1/webhooks/{webhook_id}": Doc(
        "Delete a webhook subscription", "Its pending deliveries and its delivery log go with it."
    ),
    "POST /api/v1/webhooks/{webhook_id}/rotate-secret": Doc(
        "Rotate the signing secret",
        "A new secret, in this answer only. For 24 hours deliveries carry two signatures, one per secret.",
    ),
    "POST /api/v1/webhooks/{webhook_id}/ping": Doc(
        "Ping a webhook subscription",
        "Queues a `webhook.ping` event for this subscription alone (202); it is sent in the background like "
        "any event. 409 when the subscription is not active.",
        errors=(409,),
    ),
    "GET /api/v1/webhooks/{webhook_id}/deliveries": Doc(
        "List deliveries",
        "The last 30 days' deliveries, newest first, each with its attempts (time, status code, duration, error, "
        "next try); paged.",
    ),
    "POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": Doc(
        "Redeliver",
        "Sends a finished delivery again, now, with the same `webhook-id` and body (202). 409 while it is still "
        "pending or when the subscription is not active.",
        errors=(409,),
    ),
    # audit, stats
    "GET /api/v1/audit-events": Doc("List audit events", "The account's append-only, hash-chained audit log."),
    "GET /api/v1/audit-events/verify": Doc(
        "Verify the audit log", "Recompute the hash chain and compare it with the signed checkpoints."
    ),
    "GET /api/v1/events": Doc(
        "The change feed",
        "The account's events (§12) in position order, each as its webhook body is: `{id, type, account_id, "
        "position, occurred_at, data}` with `data` the object's state when the change committed. Ask again with "
        "`after=meta.next_after` to get what came next; an integration that was down replays exactly what it "
        "missed. `types` filters (comma-separated). Events older than `ATS_EVENT_RETENTION` are pruned: an "
        "`after` whose successors are gone is 410 naming `oldest_position`. Admin only.",
        errors=(410, 422),
    ),
    "GET /api/v1/stats": Doc("Pipeline statistics", "Counts, conversion and time in stage, computed from history."),
    # jobs, stages
    "GET /api/v1/jobs": Doc("List job postings", "Filter by `status`, search titles; paged."),
    "POST /api/v1/jobs": Doc(
        "Create a job posting",
        "`title` is required; `status` defaults to `draft`, `employment_type` to `full_time`.",
        request_example={
            "title": "Backend Engineer",
            "location": "Berlin",
            "employment_type": "full_time",
            "status": "published",
            "application_questions": [{"key": "start", "label": "Earliest start", "type": "date", "required": True}],
        },
    ),
    "GET /api/v1/jobs/{job_id}": Doc("Get a job posting", "One posting of the account."),
    "PATCH /api/v1/jobs/{job_id}": Doc("Update a job posting", "Partial update: only the fields sent change."),
    "DELETE /api/v1/jobs/{job_id}": Doc(
        "Delete a job posting", "Refused (409) while the posting has applications: close it instead.", errors=(409,)
    ),
    "GET /api/v1/stages": Doc("List stages", "The account's seven stages, one per status, with allowed next moves."),
    # applications
    "GET /api/v1/applications": Doc(
        "List applications",
        "Filter, search and order; `page` for offset paging, `cursor` (from `meta.next_cursor`) for deep lists.",
    ),
    "POST /api/v1/applications": Doc(
        "Add a candidate",
        "A recruiter adds a candidate to a posting; the application starts in `new`.",
        errors=(409,),
        request_example={
            "job_id": "1e9f6a43-1c7b-4c55-9f0e-2f1d0c6a9b10",
            "candidate": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "source": "referral",
        },
    ),
    "GET /api/v1/applications/{application_id}": Doc(
        "Get an application", "The full application; its `version` is sent as `ETag`."
    ),
    "PATCH /api/v1/applications/{application_id}": Doc(
        "Set or clear a legal hold", "Admin and compliance. `If-Match` with a stale version is 412.", errors=(412,)
    ),
    "PUT /api/v1/applications/{application_id}/status": Doc(
        "Move an application",
        "Pipeline rules (§4): a move not allowed is 409 listing the allowed targets, an unknown status 422 "
        "listing the valid ones, a stale `If-Match` 412.",
        errors=(409, 412),
        request_example={"status": "interview", "note": "Strong portfolio"},
    ),
    "POST /api/v1/applications/{application_id}/notes": Doc(
        "Add a note", "Notes are internal unless `internal` is false.", request_example={"content": "Call on Monday"}
    ),
    "GET /api/v1/applications/{application_id}/notes": Doc("List notes", "The application's notes, oldest first."),
    "PATCH /api/v1/applications/{application_id}/notes/{note_id}": Doc(
        "Edit a note", "Only its author or an admin may edit a note."
    ),
    "DELETE /api/v1/applications/{application_id}/notes/{note_id}": Doc(
        "Delete a note", "Only its author or an admin may delete a note."
    ),
    "PUT /api/v1/applications/{application_id}/rating": Doc(
        "Rate an application",
        "The caller's own rating (1 to 5, optional criteria), replaced on repeat; answers the new average.",
        request_example={"rating": 4, "criteria": {"communication": 5}},
    ),
    "GET /api/v1/applications/{application_id}/ratings": Doc(
        "List ratings", "Every reviewer's rating of the application, with its criteria."
    ),
    # documents
    "POST /api/v1/applications/{application_id}/documents": Doc(
        "Upload a document",
        "Multipart form: `file` and `type`. The bytes are checked against the file's real type.",
        request=("multipart/form-data", _ref("DocumentUpload")),
    ),
    "GET /api/v1/applications/{application_id}/documents/{document_id}": Doc(
        "Download a document", "The stored bytes as an attachment, in the document's media type.", ok=_BINARY_DOWNLOAD
    ),
    "DELETE /api/v1/applications/{application_id}/documents/{document_id}": Doc(
        "Delete a document", "The document and every stored version of its object."
    ),
    # candidates (people)
    "GET /api/v1/candidates": Doc(
        "List candidates",
        "The account's people, newest first, each with the applications the caller may see; `search` (name and "
        "email), `tag`, `updated_since` (RFC 3339), `page`/`per_page` or `cursor` for deep pages.",
    ),
    "GET /api/v1/candidates/{candidate_id}": Doc(
        "Get a candidate", "One person with their applications `[{id, job, status}]` (those the caller may see)."
    ),
    "PATCH /api/v1/candidates/{candidate_id}": Doc(
        "Update a candidate",
        "Partial: name parts, `emails` (the first is the primary email; 409 when another candidate has it), "
        "`phones` (stored in E.164 when they parse), `address`, `links`, `source`.",
        errors=(409, 422),
    ),
    "PUT /api/v1/candidates/{candidate_id}/tags": Doc(
        "Set a candidate's tags", "Replaces the tags (trimmed, lower-cased, each once; at most 50).", errors=(422,)
    ),
    "GET /api/v1/candidates/{candidate_id}/duplicates": Doc(
        "Likely duplicates",
        "Candidates that may be the same person, best first: `[{candidate, score, reasons}]`; reasons are "
        "`same_email`, `same_phone` (E.164), `same_link` and `similar_name_same_city` (pg_trgm similarity).",
    ),
    "POST /api/v1/candidates/{candidate_id}/merge": Doc(
        "Merge a candidate into this one",
        "`{other_id, dry_run}`: the field-by-field result (`fields`), postings both applied to (`conflicts`, both "
        "applications kept), and, unless `dry_run`, a `merge_id` for an undo. The other's applications (with their "
        "notes, ratings, documents), emails, phones, links and tags move here; the stricter consent wins. 422 with "
        "itself, 404 for another account's, 409 when one was merged already (admin, recruiter).",
        errors=(409, 422),
    ),
    "POST /api/v1/candidate-merges/{merge_id}/undo": Doc(
        "Undo a merge",
        "Both candidates as they were; a field changed on the survivor since keeps its new value, applications "
        "made since with the other's email go back to them. 409 after `ATS_MERGE_UNDO_DAYS`, a second time, or "
        "once either was erased.",
        errors=(409,),
    ),
    "GET /api/v1/sources": Doc(
        "List application sources", "The account's controlled list a recruiter's `source` comes from (empty: free)."
    ),
    "PUT /api/v1/sources": Doc(
        "Set application sources",
        "Replace the list (admin); once it is set, `POST /api/v1/applications` takes only a `source` on it (422 "
        "listing them). Public applies keep their `source` text and carry `utm_*` campaign tags.",
        errors=(422,),
    ),
    "GET /api/v1/tags": Doc("List tags", "Every tag on the account's candidates with how many carry it."),
    "GET /api/v1/data-subjects": Doc(
        "Find a data subject (GDPR)",
        "The people who used `email` (any case) in this account, as a candidate's email or on any application "
        "(admin, compliance).",
    ),
    # GDPR
    "GET /api/v1/applications/{application_id}/export": Doc(
        "Export an application (GDPR)",
        "Everything stored about one application, as JSON, a PDF (Art. 15 report) or a ZIP of both with the "
        "documents (`format`).",
        ok={
            "application/json": _ref("ApplicationExportV1"),
            "application/pdf": BINARY,
            "application/zip": BINARY,
        },
    ),
    "DELETE /api/v1/applications/{application_id}": Doc(
        "Erase an application (GDPR)",
        "Every row and stored object of the application; answers a receipt. Refused (409) under legal hold.",
        errors=(409,),
    ),
    "GET /api/v1/candidates/{candidate_id}/export": Doc(
        "Export a person (GDPR)",
        "A candidate's whole record: the person and every application (as the application export), as JSON, one "
        "PDF report, or a ZIP with `documents/<n>/<filename>` for application `n` (`format`; admin, compliance).",
        ok={"application/json": {"type": "object"}, "application/pdf": BINARY, "application/zip": BINARY},
    ),
    "DELETE /api/v1/candidates/{candidate_id}": Doc(
        "Erase a person (GDPR)",
        "Every application, row and stored object of the candidate, and the candidate; one receipt with the totals. "
        "Refused (409, listing `applications`) while any application is under legal hold.",
        errors=(409,),
    ),
    "POST /api/v1/retention/run": Doc(
        "Run retention", "Erase (or with `dry_run=true` list) what the retention rules say is due."
    ),
    # the account
    "GET /api/v1/account": Doc("The account", "The account and its controller details, which exports name (admin)."),
    "PATCH /api/v1/account": Doc(
        "Update the account", "Name and controller details; `null` clears a detail (admin).", errors=(422,)
    ),
    "GET /api/v1/account/careers-board": Doc(
        "The careers board", "The board's slug (`filter[board]` on the public list) and its CORS origins (admin)."
    ),
    "PATCH /api/v1/account/careers-board": Doc(
        "Update the careers board",
        "Slug (409 when another account has it) and the origins allowed to call `/public/v1` (admin).",
        errors=(409, 422),
    ),
    "POST /api/v1/audit-events/seal": Doc(
        "Seal the audit log",
        "Write a signed checkpoint of the account's chain to the checkpoint store now (admin, compliance).",
    ),
    # JSON:API recruiter views
    "GET /api/v1/applicants": Doc(
        "List applicants (JSON:API)",
        "Seed-compatible JSON:API view of applications (type `applicant`); `include=applicant_documents`.",
        ok={JSONAPI: _ref("ApplicantCollection")},
    ),
    "GET /api/v1/applicants/{applicant_id}": Doc(
        "Get an applicant (JSON:API)",
        "One application as a JSON:API `applicant`; `include=applicant_documents` adds its documents; `ETag` is its "
        "version.",
        ok={JSONAPI: _ref("ApplicantDocument")},
    ),
    "PATCH /api/v1/applicants/{applicant_id}": Doc(
        "Move an applicant (JSON:API)",
        "Set `application_stage_id`: the pipeline's rules apply (409 for a move not allowed, a wrong `type` or an "
        "`id` other than the URL's). `PUT` does the same for the seed's clients.",
        errors=(409, 412),
        request_example={
            "data": {
                "type": "applicant",
                "attributes": {"application_stage_id": "459e0c1a-7d43-4a52-a1e1-6ad0a3c1f7e2"},
            }
        },
        ok={JSONAPI: _ref("ApplicantDocument")},
    ),
    "PUT /api/v1/applicants/{applicant_id}": Doc(
        "Move an applicant (JSON:API)",
        errors=(409, 412),
        request_example={
            "data": {
                "type": "applicant",
                "attributes": {"application_stage_id": "459e0c1a-7d43-4a52-a1e1-6ad0a3c1f7e2"},
            }
        },
        ok={JSONAPI: _ref("ApplicantDocument")},
    ),
    # public
    "GET /public/v1/job_postings": Doc("List open job postings", ok={JSONAPI: _ref("JobPostingCollection")}),
    "GET /public/v1/job_postings/{posting_id}": Doc(
        "Get an open job posting", "404 unless the posting is active.", ok={JSONAPI: _ref("JobPostingDocument")}
    ),
    "POST /public/v1/applicants": Doc(
        "Apply to a job posting",
        errors=(403, 409, 429),
        request=(JSONAPI, _ref("ApplyRequest")),
        ok={JSONAPI: _ref("ApplicantDocument")},
        request_example=_APPLY_EXAMPLE,
        response_example=_APPLY_RESPONSE_EXAMPLE,
    ),
    "POST /public/v1/applicant_documents/{document_id}/complete": Doc(
        "Complete a document upload",
        errors=(409,),
        ok={JSONAPI: _ref("ApplicantDocumentDocument")},
        request_example={
            "data": {
                "type": "applicant_document",
                "id": "890a5a2e-5e0e-4b87-8a1f-1a1f5b2f3c4d",
                "attributes": {"upload_token": "…"},
            }
        },
    ),
    "GET /metrics": Doc(
        "Prometheus metrics",
        "Request counts and durations by route template, in the Prometheus text format.",
        ok={"text/plain": {"type": "string"}},
    ),
    # health
    "GET /health/live": Doc("Liveness", "200 while the process serves requests."),
    "GET /health/ready": Doc("Readiness", errors=(503,)),
}

_REASONS = {
    400: "Bad request: an unknown or invalid query parameter, a malformed body or `If-Match`",
    401: "No valid bearer token",
    403: "The caller's role may not do this",
    404: "No such object in the caller's account",
    406: "`Accept` does not allow `application/vnd.api+json`",
    409: "Conflict with the object's current state",
    412: "`If-Match` names a stale version",
    413: "The body is too large",
    415: "`Content-Type` is not `application/vnd.api+json`",
    422: "The body or a value is invalid; each error points at its field",
    429: "Rate limited; see `Retry-After`",
    503: "PostgreSQL or S3 is unavailable; try again shortly",
}


@dataclass
class _Handler:
    method: str
    path: str
    handler: HTTPRouteHandler


def _handlers(app: Litestar) -> list[_Handler]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                found.append(_Handler(method.upper(), route.path_format or "/", handler))
    return found


def _statuses(prefix: str, path: str, handler: HTTPRouteHandler, doc: Doc | None) -> set[int]:
    """The error statuses an operation can answer, from where it is mounted and what its signature takes."""
    params = handler.parsed_fn_signature.parameters
    takes_body = "data" in params
    under_api = path.startswith(f"{prefix}/api/v1/")
    jsonapi = _is_jsonapi(prefix, path)
    found: set[int] = set()
    if under_api or path.startswith(f"{prefix}/public/v1/"):
        found.add(400)  # unknown query parameters, malformed bodies
    if under_api and not handler.opt.get("exclude_from_auth"):
        found.add(401)
    if handler.resolve_guards():
        found.add(403)
    if "{" in path:
        found.add(404)
    if takes_body:
        found |= {413, 422}
    if any(
        name not in ("data", "request", "db_session", "principal", "runtime") and "{" + name + "}" not in path
        for name in params
    ):
        found.add(400)
        found.add(422)
    if jsonapi:
        found.add(406)
        if takes_body:
            found.add(415)
    if {"db_session", "runtime"} & set(params) or under_api:
        found.add(503)
    if doc is not None:
        found |= set(doc.errors)
    return found


def _is_jsonapi(prefix: str, path: str) -> bool:
    return path.startswith(f"{prefix}/public/") or path.startswith(f"{prefix}/api/v1/applicants")


def _input_structs(handlers: list[_Handler]) -> dict[str, type[msgspec.Struct]]:
    """Every struct reachable from a request body that forbids unknown fields, by class name."""
    found: dict[str, type[msgspec.Struct]] = {}
    seen: set[type[msgspec.Struct]] = set()

    def walk(info: msgspec.inspect.Type) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                return
            seen.add(info.cls)
            if info.forbid_unknown_fields:
                found[info.cls.__name__] = info.cls
            for f in info.fields:
                walk(f.type)
        elif isinstance(info, msgspec.inspect.UnionType):
            for t in info.types:
                walk(t)
        elif isinstance(info, msgspec.inspect.CollectionType):
            walk(info.item_type)
        elif isinstance(info, msgspec.inspect.DictType):
            walk(info.value_type)

    for h in handlers:
        data = h.handler.parsed_fn_signature.parameters.get("data")
        annotation = data.annotation if data is not None else None
        if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
            walk(msgspec.inspect.type_info(annotation))
    return found


def _strip_prefix(prefix: str, path: str) -> str:
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


def finalize(schema: dict[str, Any], app: Litestar, prefix: str = "") -> dict[str, Any]:
    """The generated document with errors, bodies, media types, security and summaries as the API answers them."""
    doc = copy.deepcopy(schema)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(copy.deepcopy(JSONAPI_SCHEMAS))
    schemas.update(_export_schemas())
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A user's access token (`POST /api/v1/auth/token`) or an API key.",
        }
    }
    handlers = _handlers(app)
    # Request bodies are decoded by msgspec: its own schemas of them are exact (bounds inside unions and on dict
    # keys and values, enums, additionalProperties: false for forbid_unknown_fields).
    _, decoded = msgspec.json.schema_components(list(_input_structs(handlers).values()), ref_template=REF + "{name}")
    schemas.update(decoded)
    # Values the API checks itself (so that it can answer with every valid one) are still enums here.
    for name in ("StatusMove",):
        if name in schemas:
            schemas[name]["properties"]["status"]["enum"] = list(STATUSES)
    paths: dict[str, Any] = doc.get("paths", {})
    for h in handlers:
        operation = paths.get(h.path, {}).get(h.method.lower())
        if operation is None:
            continue
        key = f"{h.method} {_strip_prefix(prefix, h.path)}"
        spec = OPERATIONS.get(key)
        _document_operation(operation, h, spec, prefix)
    return doc


_RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 1}}
_PAGE_NUMBERS = {"page", "page[number]"}
_PAGE_SIZES = {"per_page", "page[size]"}


def _bound_parameter(parameter: dict[str, Any]) -> None:
    """Paging bounds and the status enum, which the handlers check themselves (check_page, the pipeline)."""
    schema = parameter.get("schema", {})
    if parameter.get("in") != "query":
        return
    name = parameter.get("name")
    if name in _PAGE_NUMBERS and schema.get("type") == "integer":
        schema["minimum"] = 1
    elif name in _PAGE_SIZES and schema.get("type") == "integer":
        schema.update(minimum=1, maximum=MAX_PER_PAGE)
    elif name in ("updated_since", "filter[updated_since]"):
        parameter["description"] = (
            "Only what changed at or after this instant: an ISO 8601 date-time with its offset "
            "(`2025-01-16T09:00:00Z`; encode `+` as `%2B`). Anything else is 422 naming the parameter."
        )
        for option in schema.get("oneOf", [schema]):
            if option.get("type") == "string":
                option["format"] = "date-time"
    elif name == "status" and "enum" not in json.dumps(schema):
        parameter["description"] = f"One status or several, comma-separated, of: {', '.join(STATUSES)}"


def _document_operation(operation: dict[str, Any], h: _Handler, spec: Doc | None, prefix: str) -> None:
    path = h.path
    jsonapi = _is_jsonapi(prefix, path)
    if spec is not None:
        operation["summary"] = spec.summary
        if spec.description or not operation.get("description"):
            operation["description"] = spec.description or spec.summary
    operation.setdefault("description", operation.get("summary", ""))
    for parameter in operation.get("parameters", []):
        _bound_parameter(parameter)
    if path.startswith(f"{prefix}/api/v1/") and not h.handler.opt.get("exclude_from_auth"):
        operation["security"] = [{"bearer": []}]
    # The request body: real media type (JSON:API documents are not application/json) and examples.
    body = operation.get("requestBody")
    if spec is not None and spec.request is not None:
        media, schema = spec.request
        operation["requestBody"] = body = {"required": True, "content": {media: {"schema": schema}}}
    elif body is not None and jsonapi:
        content = body.get("content", {})
        schemas = [c.get("schema") for c in content.values()]
        body["content"] = {JSONAPI: {"schema": schemas[0] if schemas else {"type": "object"}}}
    if body is not None and spec is not None and spec.request_example is not None:
        for media in body["content"].values():
            media["example"] = spec.request_example
    # Success: the real media types and schemas.
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in [s for s in responses if s.startswith("2")]:
        if spec is not None and spec.ok is not None and status != "204":
            responses[status]["content"] = {media: {"schema": schema} for media, schema in spec.ok.items()}
        if spec is not None and spec.response_example is not None:
            for media in responses[status].get("content", {}).values():
                media["example"] = spec.response_example
    # Errors: exactly the statuses the mapper answers, in the family's shape.
    for status in [s for s in responses if s[0] in "45"]:
        del responses[status]
    shape = (JSONAPI, "JsonApiErrors") if jsonapi else (PROBLEM_JSON, "Problem")
    for code in sorted(_statuses(prefix, path, h.handler, spec)):
        responses[str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": {shape[0]: {"schema": _ref(shape[1])}},
        }
        if code in (429, 503):
            responses[str(code)]["headers"] = {"Retry-After": _RETRY_AFTER}


# ----------------------------------------------------------------------------------------------------------------
# The docs page: Swagger UI 5 (it reads OpenAPI 3.1) from the swagger-ui-py wheel, served by the app itself.

ASSETS_PATH = "/schema/assets"


def _assets_dir() -> Path:
    """The wheel's ``static`` folder, found without importing the package (it imports YAML and Jinja)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class _Finalized:
    """Render the finished document (built once per generated schema) instead of the raw one."""

    prefix = ""
    _cache: tuple[int, dict[str, Any]] | None = None

    def finished(self, request: Request[Any, Any, Any], schema: dict[str, Any]) -> dict[str, Any]:
        if self._cache is None or self._cache[0] != id(schema):
            self._cache = (id(schema), finalize(schema, request.app, self.prefix))
        return self._cache[1]


class OpenAPIJson(_Finalized, JsonRenderPlugin):
    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


class OfflineSwagger(_Finalized, SwaggerRenderPlugin):
    """Swagger UI with its script, styles and icon from this app; the UI uses system fonts only."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
            path="/swagger",
        )
        self.prefix = prefix

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


def assets_router() -> Router:
    """The Swagger UI files, cached by browsers for a day (they change only with the package)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[_assets_dir()],
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400, public=True),
        name="openapi-assets",
        middleware=[edges_middleware],  # OPTIONS answers the route's real methods here too
    )


API_DESCRIPTION = """Recruiter-side applicant tracking.

* `/api/v1`: the recruiter API, JSON, bearer token (a user's access token from `POST /api/v1/auth/token`, or an API
  key). Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.
* `/api/v1/applicants`: seed-compatible JSON:API views (`application/vnd.api+json`, JSON:API errors).
* `/public/v1`: the public job board and apply form, JSON:API 1.1, no authentication.
"""

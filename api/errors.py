"""One mapper from errors to responses: problem details on /api; JSON:API errors on /public and /api/v1/applicants."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from ats.storage import ObjectMissing, StorageUnavailable
from botocore.exceptions import BotoCoreError
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ats.errors import DomainError, FieldError, ServiceUnavailable

log = logging.getLogger("ats.errors")

PROBLEM_JSON = "application/problem+json"
JSONAPI = "application/vnd.api+json"

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("version_conflict", "Precondition failed"),
    413: ("payload_too_large", "Payload too large"),
    414: ("uri_too_long", "URI too long"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_failed", "Validation failed"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service unavailable"),
}

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_ENUM_VALUE = re.compile(r"Invalid enum value '.*'", re.S)
_FIELD = re.compile(r"(?:unknown|required) field `(?P<name>[^`]+)`")


def pointer_from_path(path: str) -> str:
    """msgspec's ``$.data.items[2].name`` → JSON Pointer ``/data/items/2/name``."""
    parts = re.findall(r"\.([^.\[]+)|\[(\d+)\]|\[\"?([^\]\"]+)\"?\]", path)
    return "".join("/" + (a or b or c).replace("~", "~0").replace("/", "~1") for a, b, c in parts)


def field_error_from_msgspec(message: str) -> FieldError:
    """Turn one msgspec validation message into a pointer and a readable detail."""
    match = _AT.match(message.strip())
    assert match is not None
    text, path = match.group("msg"), match.group("path") or ""
    text = _ENUM_VALUE.sub("Invalid enum value", text)  # never echo what was sent: it may be personal
    pointer = pointer_from_path(path)
    named = _FIELD.search(text)
    if named:
        pointer = f"{pointer}/{named.group('name')}"
    code = "unknown_field" if "unknown field" in text else "required" if "missing required" in text else "invalid"
    return FieldError(pointer or "/", text, code)


def _where(exc: BaseException) -> str:
    """The frames an error passed through, without its message: messages can quote applicant data."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))


def _database_down(exc: BaseException) -> bool:
    # The hot paths run statements on the session's psycopg connection (ats.statements): its errors come unwrapped.
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | psycopg.OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _unwrap(exc: Exception) -> Exception:
    """The error an ``ExceptionGroup`` stands for (Litestar groups the errors of dependency clean-up, such as the
    closing ROLLBACK on a dead connection): a database outage in it wins, else the error that started it."""
    if not isinstance(exc, ExceptionGroup):
        return exc
    leaves = [leaf for leaf in _leaves(exc)]
    down = next((leaf for leaf in leaves if _database_down(leaf)), None)
    if down is not None:
        return down
    cause = exc.__cause__
    if isinstance(cause, Exception) and not isinstance(cause, ExceptionGroup):
        return cause
    return leaves[0] if leaves else exc


def _leaves(group: BaseExceptionGroup[Any]) -> list[Exception]:
    found: list[Exception] = []
    if isinstance(group.__cause__, Exception) and not isinstance(group.__cause__, BaseExceptionGroup):
        found.append(group.__cause__)
    for inner in group.exceptions:
        if isinstance(inner, BaseExceptionGroup):
            found.extend(_leaves(inner))
        elif isinstance(inner, Exception):
            found.append(inner)
    return found


def _classify(exc: Exception) -> tuple[int, str, str, str, list[FieldError], dict[str, str], dict[str, Any]]:
    """(status, code, title, detail, errors, headers, extra) for any exception; never leaks internals."""
    exc = _unwrap(exc)
    if isinstance(exc, DomainError):
        return exc.status, exc.code, exc.title, exc.detail, exc.errors, exc.headers, exc.extra
    if isinstance(exc, ValidationException):
        cause = exc.__cause__
        if isinstance(cause, msgspec.ValidationError) and " - at `$.data" in str(cause):
            # The signature model's ``data`` field is the body: its path is the body's pointer.
            error = field_error_from_msgspec(str(cause).replace(" - at `$.data", " - at `$", 1))
            return (
                422,
                "validation_failed",
                "Validation failed",
                "The request body is invalid",
                [error],
                {},
                {},
            )
        items = [item for item in (exc.extra or []) if isinstance(item, dict)]
        if items and all(item.get("source") == "body" for item in items):
            errors = [field_error_from_msgspec(str(item.get("message", ""))) for item in items]
            return (
                422,
                "validation_failed",
                "Validation failed",
                "The request body is invalid",
                errors,
                {},
                {},
            )
        errors = [
            FieldError(str(item.get("key", "")), str(item.get("message", "")), "invalid_parameter") for item in items
        ]
        names = ", ".join(str(item.get("key", "")) for item in items)
        return 400, "invalid_parameter", "Invalid parameter", f"Invalid parameter: {names}", errors, {}, {}
    if isinstance(exc, HTTPException) and isinstance(exc.__cause__, SerializationException):
        return 400, "malformed_request", "Malformed request", "The request body is not valid JSON", [], {}, {}
    if isinstance(exc, HTTPException):
        if exc.status_code >= 500:
            log.error("server error: %s at %s", type(exc).__name__, _where(exc))
        code, title = _HTTP_CODES.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if exc.status_code < 500 else title
        headers = dict(exc.headers or {})
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return exc.status_code, code, title, detail, [], headers, {}
    if _database_down(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        unavailable = ServiceUnavailable("The database is unavailable; try again shortly")
        return 503, unavailable.code, unavailable.title, unavailable.detail, [], unavailable.headers, {}
    if isinstance(exc, RecursionError):
        return 400, "malformed_request", "Malformed request", "The request body is nested too deeply", [], {}, {}
    if isinstance(exc, ObjectMissing):
        return 404, "not_found", "Not found", "The document's content is missing from storage", [], {}, {}
    if isinstance(exc, StorageUnavailable | BotoCoreError):
        log.warning("storage unavailable: %s", type(exc).__name__)
        unavailable = ServiceUnavailable("Document storage is unavailable; try again shortly")
        return 503, unavailable.code, unavailable.title, unavailable.detail, [], unavailable.headers, {}
    log.error("unhandled error: %s at %s", type(exc).__name__, _where(exc))
    return 500, "internal_error", "Internal server error", "An unexpected error occurred", [], {}, {}


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    status, code, title, detail, errors, headers, extra = _classify(exc)
    body: dict[str, Any] = {
        "type": f"https://ats.invalid/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [{"pointer": e.pointer, "detail": e.detail, "code": e.code} for e in errors],
    }
    body.update(extra)
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _present(body: Any, pointer: str) -> tuple[str, str]:
    """Split ``pointer`` into the longest prefix naming a member present in ``body`` and the missing rest.

    JSON:API 1.1: a ``source.pointer`` MUST point to a value that exists in the request document; a missing
    required member is reported at its parent, the detail naming it.
    """
    if pointer in ("", "/") and not (isinstance(body, dict) and "" in body):
        return "", pointer.lstrip("/")
    tokens = pointer.split("/")[1:]
    node, depth = body, 0
    for token in tokens:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            break
        depth += 1
    present = "".join("/" + t for t in tokens[:depth])
    return present, "/".join(t.replace("~1", "/").replace("~0", "~") for t in tokens[depth:])


def _request_document(request: Request[Any, Any, Any]) -> Any:
    """The request's JSON body when it was read before the error (Litestar keeps it on the connection)."""
    raw = getattr(request, "_body", None)
    if not isinstance(raw, bytes) or not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None


def jsonapi_error(status: int, code: str, title: str, error: FieldError, body: Any) -> dict[str, Any]:
    """One JSON:API error object: a JSON Pointer into the request document, or a query parameter's name."""
    item: dict[str, Any] = {
        "status": str(status),
        "code": error.code if error.code != "invalid" else code,
        "title": title,
        "detail": error.detail,
    }
    if error.pointer == "" or error.pointer.startswith("/"):
        pointer, missing = _present(body, error.pointer)
        item["source"] = {"pointer": pointer}
        if missing:
            item["detail"] = f"{missing}: {error.detail}"
    else:
        item["source"] = {"parameter": error.pointer}
    return item


def _query_names(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The handler's parameters by Python name → the query parameter the client sent (``page[number]``)."""
    handler = request.scope.get("route_handler")
    signature = getattr(handler, "parsed_fn_signature", None)
    if signature is None:
        return {}
    names: dict[str, str] = {}
    for name, field in signature.parameters.items():
        alias = getattr(field.kwarg_definition, "name", None) or getattr(field.kwarg_definition, "query", None)
        if isinstance(alias, str) and alias:
            names[name] = alias
    return names


def jsonapi_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    status, code, title, detail, errors, headers, extra = _classify(exc)
    body = _request_document(request) if errors else None
    if isinstance(exc, ValidationException) and status == 400:
        # Litestar names a query parameter by its Python name; the client knows it by the name it sent.
        names = _query_names(request)
        errors = [FieldError(names.get(e.pointer, e.pointer), e.detail, e.code) for e in errors]
    items = [jsonapi_error(status, code, title, e, body) for e in errors] or [
        {"status": str(status), "code": code, "title": title, "detail": detail}
    ]
    if extra:
        items[0]["meta"] = extra
    return Response(msgspec.json.encode({"errors": items}), status_code=status, media_type=JSONAPI, headers=headers)


def is_jsonapi_path(prefix: str, path: str) -> bool:
    """The recruiter API's JSON:API resources (``/api/v1/applicants``) answer JSON:API errors too (§1)."""
    base = f"{prefix}/api/v1/applicants"
    return path == base or path.startswith(f"{base}/")


def by_path(prefix: str) -> Callable[[Request[Any, Any, Any], Exception], Response[bytes]]:
    """App-level fallback (unknown routes, 405): JSON:API under the public API and the applicant resources, problem
    details elsewhere."""

    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        path = request.url.path
        if path.startswith(f"{prefix}/public/") or is_jsonapi_path(prefix, path):
            return jsonapi_error_response(request, exc)
        return problem_response(request, exc)

    return handler

"""One structured line per request, with a request id and never a query string (it can hold names).

Every record logged while a request is handled (by the API or a service such as ``ats.erasure``)
carries that request's id: the middleware sets a context variable, a filter on the handler copies it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ats.request")

#: The id of the request being handled in this context (``None`` outside a request).
current_request_id: ContextVar[str | None] = ContextVar("ats_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` with the current request's id (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            payload["request_id"] = request_id
        payload.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = record.exc_info[0].__name__
        return json.dumps(payload, separators=(",", ":"))


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("ats")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class RequestMetrics:
    """Prometheus request metrics exactly as Litestar's ``PrometheusMiddleware`` records them (its metric objects,
    names, labels and registry), recorded by the request log's own middleware: no second ASGI layer, and no
    ``Request`` built per call to read a method and a route template.
    """

    def __init__(self, config: PrometheusConfig) -> None:
        self._metrics = PrometheusMiddleware(app=_no_app, config=config)  # its metric factories, never called
        self.app_name = config.app_name

    def start(self, scope: Scope) -> dict[str, str | int | float]:
        labels: dict[str, str | int | float] = {
            "method": scope["method"],  # type: ignore[typeddict-item]  # http scopes only (see the middleware)
            "path": scope["path_template"],  # grouped by route template: never ids or query strings
            "status_code": 200,
            "app_name": self.app_name,
        }
        self._metrics.requests_in_progress(labels).labels(*labels.values()).inc()
        return labels

    def finish(self, labels: dict[str, str | int | float], status: int, duration: float) -> None:
        metrics = self._metrics
        metrics.requests_in_progress(labels).labels(*labels.values()).dec()
        labels["status_code"] = status
        values = [*labels.values()]
        if status >= 500:
            metrics.requests_error_count(labels).labels(*values).inc()
        metrics.request_count(labels).labels(*values).inc()
        metrics.request_time(labels).labels(*values).observe(duration)


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover - never called
    raise RuntimeError("not an app")


def request_logging_middleware(app: ASGIApp, metrics: RequestMetrics | None = None) -> ASGIApp:
    """One line per request and, with ``metrics``, its Prometheus metrics: one pure ASGI layer for both."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        for name, value in scope.get("headers", []):
            # Printable only: the id goes into every text log line, where a newline would forge one.
            if name == b"x-request-id" and 0 < len(value) <= 64 and value.isascii() and value.decode().isprintable():
                request_id = value.decode()
                break
        status = {"code": 500}
        started = time.perf_counter()
        sent = [started]  # when the last body message went out (the metrics' duration, as Litestar's)
        token = current_request_id.set(request_id)
        labels = metrics.start(scope) if metrics is not None else None

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent[0] = time.perf_counter()
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            if metrics is not None and labels is not None:
                metrics.finish(labels, status["code"], sent[0] - started)
            fields = {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            try:
                log.info(
                    "%s %s %s %sms",
                    fields["method"],
                    fields["path"],
                    fields["status"],
                    fields["duration_ms"],
                    extra={"fields": fields},
                )
            finally:
                current_request_id.reset(token)

    return middleware

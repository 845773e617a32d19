"""CORS for browsers: careers sites on ``/public/v1``, recruiter dashboards on ``/api/v1``.

One ASGI middleware rather than Litestar's ``CORSConfig``: that one allows one list of origins for the whole app,
while here the public API also allows each account's board origins (read from PostgreSQL) and the recruiter API
only the dashboard origins. A preflight is answered here, before routing, query-parameter checks or auth, so
``OPTIONS /public/v1/applicants?include=applicant_documents`` is a 204 whatever the handler would say about its
query. An origin not allowed gets no ``Access-Control-*`` header at all (its preflight is still a 204: the browser
then refuses the call). Credentials (cookies) are never allowed: the recruiter API takes bearer tokens.
"""

from __future__ import annotations

import logging

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from ats.runtime import Runtime
from ats.services import careers_board

from .deps import STATE_KEY

log = logging.getLogger("ats.cors")

MAX_AGE = "600"
PUBLIC_METHODS = "GET, HEAD, POST, OPTIONS"
PUBLIC_HEADERS = "Accept, Content-Type, Idempotency-Key, If-None-Match, X-Request-Id"
RECRUITER_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
RECRUITER_HEADERS = "Accept, Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-Id"
SCOPE_KEY = "ats_cors_origin"
EXPOSED = "Location, ETag, Retry-After, Content-Disposition, X-Request-Id"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class CORSMiddleware:
    """Adds CORS to the public and recruiter APIs under ``prefix``; every other path passes through untouched."""

    def __init__(self, app: ASGIApp, prefix: str, origins: tuple[str, ...], dashboard_origins: tuple[str, ...]):
        self.app = app
        self.public = f"{prefix}/public/v1"
        self.recruiter = f"{prefix}/api/v1"
        self.origins = frozenset(origins)
        self.dashboard_origins = frozenset(dashboard_origins)

    def _family(self, path: str) -> str | None:
        for base, family in ((self.public, "public"), (self.recruiter, "recruiter")):
            if path == base or path.startswith(base + "/"):
                return family
        return None

    async def _allowed(self, scope: Scope, family: str, origin: str) -> bool:
        if family == "recruiter":
            return origin in self.dashboard_origins
        if origin in self.origins:
            return True
        runtime: Runtime | None = scope["app"].state.get(STATE_KEY)
        if runtime is None:
            return False
        try:
            async with runtime.sessions() as session:
                return await careers_board.origin_allowed(session, origin.lower())
        except Exception as exc:  # a database outage must not turn a preflight into a 500
            log.warning("board origins could not be read: %s", type(exc).__name__)
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        family = self._family(scope["path"]) if scope["type"] == "http" else None  # type: ignore[comparison-overlap]
        if family is None:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = bool(origin) and await self._allowed(scope, family, origin or "")
        if scope.get("method") == "OPTIONS" and origin and _header(scope, b"access-control-request-method"):
            await self._preflight(send, family, origin if allowed else None)
            return
        # Added to the response by ``add_cors_headers`` (a ``before_send`` hook), so that error responses made by
        # Litestar's exception handling outside this middleware (a 401 from the auth middleware) carry them too.
        scope[SCOPE_KEY] = origin if allowed and origin else ""  # type: ignore[literal-required]
        await self.app(scope, receive, send)

    async def _preflight(self, send: Send, family: str, origin: str | None) -> None:
        headers: list[tuple[bytes, bytes]] = [(b"vary", b"Origin"), (b"content-length", b"0")]
        if origin is not None:
            methods, allowed_headers = (
                (PUBLIC_METHODS, PUBLIC_HEADERS) if family == "public" else (RECRUITER_METHODS, RECRUITER_HEADERS)
            )
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", methods.encode()),
                (b"access-control-allow-headers", allowed_headers.encode()),
                (b"access-control-max-age", MAX_AGE.encode()),
            ]
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 204, "headers": headers}
        await send(start)
        end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(end)


async def add_cors_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: the CORS headers the middleware decided on for this request."""
    if message["type"] != "http.response.start" or SCOPE_KEY not in scope:
        return
    origin: str = scope[SCOPE_KEY]  # type: ignore[literal-required]
    headers = MutableScopeHeaders.from_message(message)
    # The answer depends on Origin: a shared cache must not hand one origin's answer to another.
    headers.add("Vary", "Origin")
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSED

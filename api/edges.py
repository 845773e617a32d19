"""The edges of HTTP that come before any handler: a plain ``OPTIONS``, an over-long request target.

Litestar answers ``OPTIONS`` with a handler it makes for the first controller of a path: when a second controller
adds methods to that path the ``Allow`` it answers is stale, and the first controller's guards (authentication)
apply to it. Here a plain ``OPTIONS`` (not a CORS preflight: that one carries ``Origin`` and
``Access-Control-Request-Method`` and is the CORS middleware's) is answered from the app's own route table, with
no authentication. This runs after routing, so an unknown path is still the family's 404.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from litestar.exceptions import HTTPException
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

if TYPE_CHECKING:
    from litestar import Litestar

#: The longest request target (path and query string) served; longer is a 414 in the API family's error shape.
MAX_TARGET_BYTES = 8 * 1024

_PARAM_TYPE = re.compile(r"\{([^:}]+):[^}]*\}")


def allowed_methods(app: Litestar, path_template: str) -> str | None:
    """The ``Allow`` value of the route whose template (as routing names it: ``{id}``, no type) this is.

    Looked up on each call, not cached: a plain OPTIONS is rare, and the table is a few dozen routes.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute) and _PARAM_TYPE.sub(r"{\1}", route.path) == path_template:
            return ", ".join(sorted({*route.methods, "OPTIONS"}))
    return None


class URITooLong(HTTPException):
    status_code = 414


def _header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope.get("headers", []))


def edges_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        target = len(scope["path"]) + len(scope.get("query_string", b""))
        if target > MAX_TARGET_BYTES:
            # Raised here, the route's own exception handler shapes it: problem details or JSON:API errors.
            raise URITooLong(detail=f"The request target is longer than {MAX_TARGET_BYTES} bytes")
        if scope.get("method") == "OPTIONS" and not (
            _header(scope, b"origin") and _header(scope, b"access-control-request-method")
        ):
            allow = allowed_methods(scope["litestar_app"], scope.get("path_template", ""))
            if allow is not None:
                start: HTTPResponseStartEvent = {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"allow", allow.encode())],
                }
                body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
                await send(start)
                await send(body)
                return
        await app(scope, receive, send)

    return middleware

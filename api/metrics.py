"""``/metrics`` (Prometheus), behind a bearer token when ``ATS_METRICS_TOKEN`` is set."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusController

from ats.errors import Unauthorized

from .errors import problem_response


def metrics_controller(path: str, token: str | None) -> type[PrometheusController]:
    """The metrics endpoint at ``path``; with a ``token``, a request without ``Bearer <token>`` gets a 401 problem."""
    if not token:
        return type("MetricsController", (PrometheusController,), {"path": path})
    expected = f"Bearer {token}".encode()

    async def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        given = connection.headers.get("authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):  # constant time: the token is not guessable byte by byte
            raise Unauthorized("A valid metrics token is required", headers={"WWW-Authenticate": "Bearer"})

    return type(
        "MetricsController",
        (PrometheusController,),
        {"path": path, "guards": [require_token], "exception_handlers": {Exception: problem_response}},
    )

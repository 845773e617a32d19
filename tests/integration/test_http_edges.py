"""HTTP before any handler: a plain OPTIONS on every route, and an over-long request target in each API family."""

from __future__ import annotations

import re
import uuid

import pytest
from ats.api.edges import MAX_TARGET_BYTES
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from tests.conftest import Account, problem
from tests.integration.test_public_apply import JSONAPI, errors_of

_PARAM = re.compile(r"\{(?P<name>[^:}]+)(?::(?P<type>[^}]+))?\}")
_SAMPLE = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "path": "x", "date": "2025-01-16"}


def _concrete(template: str) -> str:
    """A path the template matches: each parameter replaced by a value of its type."""
    return _PARAM.sub(lambda m: _SAMPLE.get(m.group("type") or "str", "x"), template)


def _routes(app: Litestar) -> list[tuple[str, set[str]]]:
    """Every HTTP route of the running app with the methods its handlers declare (OPTIONS aside)."""
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            methods = {m for handler in route.route_handlers for m in handler.http_methods} - {"OPTIONS"}
            found.append((route.path, methods))
    return found


async def test_options_answers_the_real_methods_of_every_route_without_auth(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    routes = _routes(app)
    assert len(routes) > 30
    wrong = {}
    for template, methods in routes:
        response = await client.options(_concrete(template))
        expected = ", ".join(sorted({*methods, "OPTIONS"}))
        if response.status_code != 204 or response.headers.get("allow") != expected:
            wrong[template] = (response.status_code, response.headers.get("allow"), expected)
    assert wrong == {}


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        # §2: paths whose methods come from more than one controller or sit behind guards
        ("/api/v1/users", "GET, OPTIONS, POST"),
        (f"/api/v1/users/{uuid.uuid4()}", "DELETE, GET, OPTIONS, PATCH"),
        (f"/api/v1/api-keys/{uuid.uuid4()}", "DELETE, GET, OPTIONS"),
        ("/api/v1/auth/token", "OPTIONS, POST"),
        ("/public/v1/applicants", "OPTIONS, POST"),
        ("/health/live", "GET, OPTIONS"),
    ],
)
async def test_options_on_known_paths(client: AsyncTestClient[Litestar], path: str, allow: str) -> None:
    response = await client.options(path, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 204, response.text
    assert response.headers["allow"] == allow
    assert response.content == b""


async def test_options_on_an_unknown_path_is_the_family_404(client: AsyncTestClient[Litestar]) -> None:
    problem(await client.options("/api/v1/no-such-thing"), 404)
    errors_of(await client.options("/public/v1/no-such-thing"), 404)


async def test_a_long_query_string_is_414_in_each_family(client: AsyncTestClient[Litestar], account: Account) -> None:
    long = {"q": "x" * 60_000}  # httpx refuses a longer query; over TCP see test_client_ip
    body = problem(await client.get("/api/v1/jobs", params=long, headers=account.headers), 414, "uri_too_long")
    assert str(MAX_TARGET_BYTES) in body["detail"]
    # Before authentication: an anonymous caller learns the same, not a 401.
    problem(await client.get("/api/v1/jobs", params=long), 414, "uri_too_long")
    errors = errors_of(await client.get("/public/v1/job_postings", params=long, headers={"Accept": JSONAPI}), 414)
    assert errors[0]["code"] == "uri_too_long"
    problem(await client.get("/health/live", params=long), 414, "uri_too_long")


async def test_a_target_just_under_the_limit_reaches_the_handler(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    query = {"q": "x" * (MAX_TARGET_BYTES - 100)}
    body = problem(await client.get("/api/v1/jobs", params=query, headers=account.headers), 400)
    assert "Unknown query parameter: q" in body["detail"]

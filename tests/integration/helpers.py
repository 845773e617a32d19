"""Building blocks for tests: postings and applications made through the API."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, ValidationError, validators
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Account


async def make_job(account: Account, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"title": "Engineer", "status": "published", **fields}
    response = await account.client.post("/api/v1/jobs", json=body, headers=headers or account.headers)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


async def make_application(
    account: Account, job_id: str, headers: dict[str, str] | None = None, **candidate: Any
) -> dict[str, Any]:
    person = {"name": "Ada Lovelace", "email": f"ada-{uuid.uuid4().hex[:8]}@example.com", **candidate}
    response = await account.client.post(
        "/api/v1/applications",
        json={"job_id": job_id, "candidate": person, "source": "referral"},
        headers=headers or account.headers,
    )
    assert response.status_code == 201, response.text
    application: dict[str, Any] = response.json()["data"]
    return application


async def move(
    client: AsyncTestClient[Litestar], headers: dict[str, str], application_id: str, status: str, **extra: Any
) -> Any:
    return await client.put(
        f"/api/v1/applications/{application_id}/status", json={"status": status, **extra}, headers=headers
    )


JSONAPI = "application/vnd.api+json"
JSONAPI_SCHEMA = Path(__file__).resolve().parent.parent / "jsonapi-schema" / "1.0" / "schema.json"


def _additional_properties(validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """``additionalProperties`` honouring a ``""`` key of ``patternProperties`` (it matches every name).

    jsonschema joins the patterns with ``|`` and skips an empty result, so the schema's ``meta`` and ``attributes``
    (``patternProperties: {"": true}, additionalProperties: false``) would refuse every member: a known bug
    (python-jsonschema/jsonschema pull request #1522, open), corrected here and nowhere else.
    """
    if not validator.is_type(instance, "object"):
        return
    patterns = list(schema.get("patternProperties", {}))
    properties = schema.get("properties", {})
    extras = [k for k in instance if k not in properties and not any(re.search(p, k) for p in patterns)]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif allowed is False and extras:
        yield ValidationError(f"additional properties are not allowed: {', '.join(map(repr, sorted(extras)))}")


@cache
def _jsonapi_validator() -> Any:
    schema = json.loads(JSONAPI_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    validator = validators.extend(Draft202012Validator, {"additionalProperties": _additional_properties})
    return validator(schema)


def assert_jsonapi(response: httpx.Response, status: int | None = None) -> Any:
    """The response is a JSON:API document (media type and the official schema); returns its body."""
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == JSONAPI, response.headers["content-type"]
    body = response.json()
    problems = sorted(_jsonapi_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not problems, "; ".join(
        f"{list(p.absolute_path)}: {p.message} {[c.message for c in p.context or []]}" for p in problems
    )
    return body


def jsonapi_error(response: httpx.Response, status: int, code: str | None = None) -> list[dict[str, Any]]:
    """A JSON:API error document with ``status`` (and ``code`` on its first error); returns the errors."""
    errors: list[dict[str, Any]] = assert_jsonapi(response, status)["errors"]
    assert errors and all(e["status"] == str(status) and "title" in e for e in errors), errors
    if code is not None:
        assert errors[0]["code"] == code, errors
    return errors

"""Building blocks for tests: postings and applications made through the API."""

from __future__ import annotations

import uuid
from typing import Any

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

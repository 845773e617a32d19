"""``updated_since`` on the lists (§12): what changed at or after an instant, so integrations sync incrementally."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Account, problem
from tests.integration.helpers import assert_jsonapi, jsonapi_error, make_application, make_job, move


def _ids(response: object) -> set[str]:
    assert getattr(response, "status_code", None) == 200, getattr(response, "text", "")
    return {item["id"] for item in response.json()["data"]}  # type: ignore[attr-defined]


async def test_lists_return_what_changed_since(client: AsyncTestClient[Litestar], account: Account) -> None:
    admin = account.headers
    kept_job, changed_job = await make_job(account), await make_job(account)
    untouched = await make_application(account, kept_job["id"])
    moved = await make_application(account, kept_job["id"])
    noted = await make_application(account, kept_job["id"])
    rated = await make_application(account, kept_job["id"])
    old_note = (
        await client.post(f"/api/v1/applications/{noted['id']}/notes", json={"content": "first"}, headers=admin)
    ).json()["data"]
    await asyncio.sleep(0.01)
    since = datetime.now(UTC)
    await asyncio.sleep(0.01)

    await client.patch(f"/api/v1/jobs/{changed_job['id']}", json={"location": "Leipzig"}, headers=admin)
    assert (await move(client, admin, moved["id"], "screening")).status_code == 200
    new_note = (
        await client.post(f"/api/v1/applications/{noted['id']}/notes", json={"content": "second"}, headers=admin)
    ).json()["data"]
    assert (
        await client.put(f"/api/v1/applications/{rated['id']}/rating", json={"rating": 3}, headers=admin)
    ).is_success
    user_id, _ = await account.user("recruiter")

    params = {"updated_since": since.isoformat()}  # "+00:00", encoded by the client as %2B00:00
    assert _ids(await client.get("/api/v1/jobs", params=params, headers=admin)) == {changed_job["id"]}
    applications = _ids(await client.get("/api/v1/applications", params=params, headers=admin))
    assert applications == {moved["id"], noted["id"], rated["id"]}  # a new note or rating changes its JSON too
    assert untouched["id"] not in applications
    assert _ids(await client.get("/api/v1/users", params=params, headers=admin)) == {user_id}
    notes = f"/api/v1/applications/{noted['id']}/notes"
    assert _ids(await client.get(notes, params=params, headers=admin)) == {new_note["id"]}
    assert _ids(await client.get(notes, headers=admin)) == {old_note["id"], new_note["id"]}
    applicants = await client.get(
        "/api/v1/applicants", params={"filter[updated_since]": since.isoformat()}, headers=admin
    )
    assert {a["id"] for a in assert_jsonapi(applicants, 200)["data"]} == applications
    ratings = await client.get(f"/api/v1/applications/{rated['id']}/ratings", params=params, headers=admin)
    assert [r["rating"] for r in ratings.json()["data"]] == [3]

    # the same instant in another offset, and with a "+" the client forgot to encode (it arrives as a space)
    in_berlin = since.astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    assert _ids(await client.get("/api/v1/jobs", params={"updated_since": in_berlin}, headers=admin)) == {
        changed_job["id"]
    }
    raw = f"/api/v1/jobs?updated_since={in_berlin}"  # "+01:00" left as is
    assert _ids(await client.get(raw, headers=admin)) == {changed_job["id"]}
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert _ids(await client.get("/api/v1/applications", params={"updated_since": later}, headers=admin)) == set()


@pytest.mark.parametrize("value", ["yesterday", "2025-01-16", "2025-01-16T09:00:00", "2025-13-01T00:00:00Z", ""])
@pytest.mark.parametrize("path", ["/api/v1/applications", "/api/v1/jobs", "/api/v1/users"])
async def test_a_bad_instant_is_422_naming_the_parameter(
    client: AsyncTestClient[Litestar], account: Account, path: str, value: str
) -> None:
    body = problem(await client.get(path, params={"updated_since": value}, headers=account.headers), 422)
    assert body["code"] == "validation_failed"
    assert [e["pointer"] for e in body["errors"]] == ["updated_since"]


async def test_the_jsonapi_list_names_the_filter_in_its_error(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    response = await client.get(
        "/api/v1/applicants", params={"filter[updated_since]": "2025-01-16"}, headers=account.headers
    )
    errors = jsonapi_error(response, 422)
    assert [e["source"] for e in errors] == [{"parameter": "filter[updated_since]"}]

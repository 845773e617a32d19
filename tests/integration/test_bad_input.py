"""Inputs that used to reach PostgreSQL or Python unchecked: each is a clear 4xx, never a 500."""

from __future__ import annotations

import base64
import json

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Account, problem
from tests.integration.helpers import make_application, make_job, move
from tests.integration.test_public_apply import HEADERS, apply_body, errors_of
from tests.samples import PDF


async def test_nul_characters_are_refused(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    h = account.headers
    problem(await client.post("/api/v1/jobs", json={"title": "a\u0000b"}, headers=h), 422)
    problem(await client.post(f"/api/v1/applications/{app['id']}/notes", json={"content": "\u0000"}, headers=h), 422)
    problem(await client.get("/api/v1/applications?search=a%00b", headers=h), 400)
    problem(await client.delete(f"/api/v1/applications/{app['id']}?reason=a%00", headers=h), 400)
    body = apply_body(job["id"], name="x\u0000y")
    errors_of(await client.post("/public/v1/applicants", json=body, headers=HEADERS), 422)
    assert (await client.get(f"/api/v1/applications/{app['id']}", headers=h)).status_code == 200


async def test_paging_and_dates_out_of_range(account: Account, client: AsyncTestClient[Litestar]) -> None:
    h = account.headers
    for url in (
        "/api/v1/applications?page=99999999999999",
        "/api/v1/jobs?page=4611686018427387904",
        "/api/v1/audit-events?page=99999999999999",
        "/api/v1/applications?date_to=9999-12-31",
        "/api/v1/audit-events?date_to=9999-12-31",
        "/api/v1/stats?date_to=0001-01-01",
    ):
        problem(await client.get(url, headers=h), 422)
    problem(await client.get("/api/v1/applications?page=99999999999999999999999", headers=h), 422)
    deep = await client.get(
        "/public/v1/job_postings?page[number]=99999999999999", headers={"Accept": HEADERS["Accept"]}
    )
    assert errors_of(deep, 400)[0]["source"] == {"parameter": "page[number]"}


async def test_times_need_a_timezone_and_titles_text(account: Account, client: AsyncTestClient[Litestar]) -> None:
    h = account.headers
    naive = await client.post("/api/v1/jobs", json={"title": "x", "closes_at": "2030-01-01T00:00:00"}, headers=h)
    assert problem(naive, 422)["errors"][0]["pointer"] == "/closes_at"
    problem(await client.post("/api/v1/jobs", json={"title": "   "}, headers=h), 422)
    aware = await client.post("/api/v1/jobs", json={"title": "x", "closes_at": "2030-01-01T00:00:00+02:00"}, headers=h)
    assert aware.json()["data"]["closes_at"] == "2029-12-31T22:00:00Z"


async def test_forged_cursors_are_refused(account: Account, client: AsyncTestClient[Litestar]) -> None:
    def forge(*fields: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(fields)).encode()).decode().rstrip("=")

    uid = "00000000-0000-4000-8000-000000000000"
    for orderby, value in (("name", {"a": 1}), ("name", 5), ("status", "x"), ("status", True), ("date", "2025-01-01")):
        cursor = forge(orderby, "desc", value, uid, 2, 10)
        url = f"/api/v1/applications?orderby={orderby}&cursor={cursor}"
        problem(await client.get(url, headers=account.headers), 422)


async def test_deeply_nested_json(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    nested = "[" * 5000 + "]" * 5000
    head = json.dumps({"job_id": job["id"], "candidate": {"name": "a", "email": "a@b.co"}})[:-1]
    body = head + ', "custom_fields": {"x": ' + nested + "}}"
    response = await client.post(
        "/api/v1/applications", content=body.encode(), headers={**account.headers, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text


async def test_long_upload_filename_is_shortened(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    response = await client.post(
        f"/api/v1/applications/{app['id']}/documents",
        files={"file": ("x" * 400 + ".pdf", PDF)},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["data"]["filename"]) <= 154


async def test_export_keeps_move_notes_internal(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    await move(client, account.headers, app["id"], "screening", note="private remark")
    # a no-op move with a note still keeps the note
    await move(client, account.headers, app["id"], "screening", note="second remark")
    view = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
    assert [n["content"] for n in view["notes"]] == ["private remark", "second remark"]
    assert len(view["status_history"]) == 2
    exported = await client.get(f"/api/v1/applications/{app['id']}/export", headers=account.headers)
    assert "private remark" not in exported.text
    full = await client.get(f"/api/v1/applications/{app['id']}/export?include_internal=true", headers=account.headers)
    assert "private remark" in full.text
    events = (await client.get(f"/api/v1/audit-events?application_id={app['id']}", headers=account.headers)).json()
    assert {"application.created", "application.status_changed", "note.created"} <= {
        e["action"] for e in events["data"]
    }


async def test_other_accounts_id_is_404_before_input_checks(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    job = await make_job(other_account)
    theirs = await make_application(other_account, job["id"])
    problem(await move(client, account.headers, theirs["id"], "bogus"), 404)

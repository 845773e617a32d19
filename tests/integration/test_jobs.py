from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Account, problem
from tests.integration.helpers import assert_jsonapi, make_application, make_job

JSONAPI = "application/vnd.api+json"


async def test_create_defaults_and_fields(account: Account, client: AsyncTestClient[Litestar]) -> None:
    created = await client.post("/api/v1/jobs", json={"title": "Backend Engineer"}, headers=account.headers)
    assert created.status_code == 201
    job = created.json()["data"]
    assert job["status"] == "draft" and job["employment_type"] == "full_time" and job["active"] is False
    assert job["hiring_team"] == [] and job["application_questions"] == []
    got = (await client.get(f"/api/v1/jobs/{job['id']}", headers=account.headers)).json()["data"]
    assert got == job


async def test_active_rule_and_public_listing(account: Account, client: AsyncTestClient[Litestar]) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    open_job = await make_job(account, title="Open", closes_at=future)
    no_close = await make_job(account, title="No close")
    expired = await make_job(account, title="Expired", closes_at=past)
    draft = await make_job(account, title="Draft", status="draft")
    closed = await make_job(account, title="Closed", status="closed")
    assert open_job["active"] and no_close["active"]
    assert not any(j["active"] for j in (expired, draft, closed))

    listing = await client.get("/public/v1/job_postings?page[size]=100", headers={"Accept": JSONAPI})
    ids = {r["id"] for r in assert_jsonapi(listing, 200)["data"]}
    assert {open_job["id"], no_close["id"]} <= ids
    assert not ids & {expired["id"], draft["id"], closed["id"]}
    item = await client.get(f"/public/v1/job_postings/{open_job['id']}")
    resource = assert_jsonapi(item, 200)["data"]
    assert resource["type"] == "job_posting" and resource["attributes"]["title"] == "Open"
    assert "hiring_team" not in resource["attributes"]
    for hidden in (expired, draft, closed):
        response = await client.get(f"/public/v1/job_postings/{hidden['id']}")
        assert assert_jsonapi(response, 404)["errors"][0]["status"] == "404"
    not_acceptable = await client.get("/public/v1/job_postings", headers={"Accept": "text/html"})
    assert_jsonapi(not_acceptable, 406)


async def test_questions_are_validated_in_shape(account: Account, client: AsyncTestClient[Litestar]) -> None:
    good = [
        {"key": "years", "label": "Years of experience", "type": "number", "required": True},
        {"key": "visa", "label": "Need a visa?", "type": "boolean"},
        {"key": "lang", "label": "Language", "type": "choice", "choices": ["en", "de"], "required": True},
    ]
    job = await make_job(account, application_questions=good)
    assert [q["key"] for q in job["application_questions"]] == ["years", "visa", "lang"]
    bad_cases = [
        ([{"key": "a", "label": "A", "type": "colour"}], "/application_questions/0/type"),
        ([{"key": "a", "label": "A", "type": "choice"}], "/application_questions/0/choices"),
        (
            [{"key": "a", "label": "A", "type": "text"}, {"key": "a", "label": "B", "type": "text"}],
            "/application_questions/1/key",
        ),
        ([{"key": "a", "label": "A", "type": "text", "choices": ["x"]}], "/application_questions/0/choices"),
        ([{"label": "A", "type": "text"}], "/application_questions/0/key"),
    ]
    for questions, pointer in bad_cases:
        body = problem(
            await client.post(
                "/api/v1/jobs",
                json={"title": "X", "application_questions": questions},
                headers=account.headers,
            ),
            422,
        )
        assert pointer in [e["pointer"] for e in body["errors"]], body


async def test_bad_job_input(account: Account, client: AsyncTestClient[Litestar]) -> None:
    for body, pointer in [
        ({}, "/title"),
        ({"title": ""}, "/title"),
        ({"title": "x", "status": "open"}, "/status"),
        ({"title": "x", "employment_type": "gig"}, "/employment_type"),
        ({"title": "x", "salary": 5}, "/salary"),
        ({"title": "x", "hiring_team": ["not-a-uuid"]}, "/hiring_team/0"),
        ({"title": "x", "hiring_team": [str(uuid.uuid4())]}, "/hiring_team/0"),
    ]:
        found = problem(await client.post("/api/v1/jobs", json=body, headers=account.headers), 422)
        assert found["errors"][0]["pointer"] == pointer, (body, found)
    problem(await client.get("/api/v1/jobs?status=open", headers=account.headers), 400)
    problem(await client.get("/api/v1/jobs?per_page=101", headers=account.headers), 422)


async def test_patch_list_filter_and_delete(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account, title="Data Scientist", status="draft")
    other = await make_job(account, title="Designer")
    patched = await client.patch(
        f"/api/v1/jobs/{job['id']}",
        json={"status": "published", "location": "Berlin"},
        headers=account.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["status"] == "published" and patched.json()["data"]["location"] == "Berlin"
    assert patched.json()["data"]["title"] == "Data Scientist"
    found = (await client.get("/api/v1/jobs?search=scien", headers=account.headers)).json()
    assert [j["id"] for j in found["data"]] == [job["id"]] and found["meta"]["total"] == 1
    drafts = (await client.get("/api/v1/jobs?status=draft", headers=account.headers)).json()
    assert drafts["data"] == []
    await make_application(account, other["id"])
    problem(await client.delete(f"/api/v1/jobs/{other['id']}", headers=account.headers), 409)
    assert (await client.delete(f"/api/v1/jobs/{job['id']}", headers=account.headers)).status_code == 204
    problem(await client.get(f"/api/v1/jobs/{job['id']}", headers=account.headers), 404)


async def test_roles_and_hiring_team(account: Account, client: AsyncTestClient[Litestar]) -> None:
    manager_id, manager = await account.user("hiring_manager")
    _, recruiter = await account.user("recruiter")
    _, compliance = await account.user("compliance")
    theirs = await make_job(account, title="Team job", hiring_team=[manager_id])
    not_theirs = await make_job(account, title="Other job")
    # hiring managers read only their postings, and write none
    listed = (await client.get("/api/v1/jobs", headers=manager)).json()["data"]
    assert [j["id"] for j in listed] == [theirs["id"]]
    assert (await client.get(f"/api/v1/jobs/{theirs['id']}", headers=manager)).status_code == 200
    problem(await client.get(f"/api/v1/jobs/{not_theirs['id']}", headers=manager), 404)
    problem(await client.patch(f"/api/v1/jobs/{theirs['id']}", json={"title": "x"}, headers=manager), 403)
    problem(await client.patch(f"/api/v1/jobs/{not_theirs['id']}", json={"title": "x"}, headers=manager), 404)
    problem(await client.post("/api/v1/jobs", json={"title": "x"}, headers=manager), 403)
    # recruiters write; compliance reads only
    assert (await client.post("/api/v1/jobs", json={"title": "R"}, headers=recruiter)).status_code == 201
    assert (await client.get(f"/api/v1/jobs/{not_theirs['id']}", headers=compliance)).status_code == 200
    problem(await client.post("/api/v1/jobs", json={"title": "x"}, headers=compliance), 403)
    problem(await client.delete(f"/api/v1/jobs/{not_theirs['id']}", headers=compliance), 403)


async def test_another_accounts_job_is_not_found(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    theirs = await make_job(other_account)
    problem(await client.get(f"/api/v1/jobs/{theirs['id']}", headers=account.headers), 404)
    problem(await client.patch(f"/api/v1/jobs/{theirs['id']}", json={"title": "x"}, headers=account.headers), 404)
    problem(await client.delete(f"/api/v1/jobs/{theirs['id']}", headers=account.headers), 404)
    problem(
        await client.post(
            "/api/v1/applications",
            json={"job_id": theirs["id"], "candidate": {"name": "A", "email": "a@example.com"}},
            headers=account.headers,
        ),
        404,
    )


async def test_stages(account: Account, client: AsyncTestClient[Litestar]) -> None:
    stages = (await client.get("/api/v1/stages", headers=account.headers)).json()["data"]
    assert [(s["name"], s["status"], s["position"]) for s in stages] == [
        ("New", "new", 1),
        ("Screening", "screening", 2),
        ("Interview", "interview", 3),
        ("Offer", "offer", 4),
        ("Hired", "hired", 5),
        ("Rejected", "rejected", 6),
        ("Withdrawn", "withdrawn", 7),
    ]
    by_status = {s["status"]: s["allowed_next"] for s in stages}
    assert by_status["new"] == ["screening", "interview", "offer", "hired", "rejected", "withdrawn"]
    assert by_status["offer"] == ["hired", "rejected", "withdrawn"]
    assert by_status["hired"] == []

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from ats.models import AuditEvent, StatusChange
from ats.runtime import Runtime
from tests.conftest import Account, problem
from tests.integration.helpers import assert_jsonapi, jsonapi_error, make_application, make_job, move

SHAPE_KEYS = {
    "id", "job", "status", "stage", "status_history", "candidate", "documents", "cover_letter",
    "custom_fields", "rating", "rating_count", "notes", "consent", "source", "legal_hold", "version",
    "created_at", "updated_at",
    "utm_source", "utm_medium", "utm_campaign", "referrer_id",  # §13: where the application came from
}  # fmt: skip


async def test_created_application_has_the_full_shape(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    response = await client.post(
        "/api/v1/applications",
        json={
            "job_id": job["id"],
            "candidate": {
                "name": "Grace Hopper",
                "salutation": "Dr.",
                "first_name": "Grace",
                "last_name": "Hopper",
                "email": "grace@example.com",
                "phone": "+1 555 0100",
                "address": {
                    "street": "1 Navy Way",
                    "postal_code": "10001",
                    "city": "New York",
                    "country": "US",
                },
            },
            "source": "linkedin",
            "cover_letter": "Hello",
            "custom_fields": {"years": 30},
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    app = response.json()["data"]
    assert set(app) == SHAPE_KEYS
    assert app["job"] == {"id": job["id"], "title": "Engineer"}
    assert app["status"] == "new" and app["stage"]["name"] == "New"
    assert app["candidate"]["address"] == {
        "street": "1 Navy Way",
        "postal_code": "10001",
        "city": "New York",
        "country": "US",
    }
    assert app["candidate"]["salutation"] == "Dr."
    assert [h["status"] for h in app["status_history"]] == ["new"]
    assert app["status_history"][0]["changed_by"]["id"] == str(account.admin_id)
    assert app["rating"] is None and app["rating_count"] == 0
    assert app["custom_fields"] == {"years": 30} and app["source"] == "linkedin"
    assert app["legal_hold"] is False and app["version"] == 1
    got = await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)
    assert got.json()["data"] == app
    # one application per email per posting, whatever the letter case
    again = await client.post(
        "/api/v1/applications",
        json={"job_id": job["id"], "candidate": {"name": "G", "email": "GRACE@example.COM"}},
        headers=account.headers,
    )
    problem(again, 409, "already_exists")


async def test_status_machine_over_http(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    h = account.headers
    # skipping forward is allowed, with a note and a reason
    moved = await move(client, h, app["id"], "interview", note="Strong CV", reason="fast track")
    assert moved.status_code == 200
    body = moved.json()["data"]
    assert body["status"] == "interview" and body["version"] == 2 and moved.headers["etag"] == '"2"'
    assert body["status_history"][-1]["note"] == "Strong CV" and body["status_history"][-1]["reason"] == "fast track"
    assert [n["content"] for n in body["notes"]] == ["Strong CV"] and body["notes"][0]["internal"] is True
    # same status: a no-op, no history entry, no version change
    same = await move(client, h, app["id"], "interview")
    assert same.status_code == 200 and len(same.json()["data"]["status_history"]) == 2
    assert same.json()["data"]["version"] == 2
    # backwards is not in the table
    back = problem(await move(client, h, app["id"], "screening"), 409, "transition_not_allowed")
    assert back["allowed"] == ["offer", "hired", "rejected", "withdrawn"]
    # unknown status lists every valid value
    unknown = problem(await move(client, h, app["id"], "archived"), 422, "validation_failed")
    assert unknown["allowed"] == ["new", "screening", "interview", "offer", "hired", "rejected", "withdrawn"]
    # rejected may only reopen to the status held just before
    assert (await move(client, h, app["id"], "rejected", reason="salary")).status_code == 200
    reopen_wrong = problem(await move(client, h, app["id"], "offer"), 409)
    assert reopen_wrong["allowed"] == ["interview"]
    assert (await move(client, h, app["id"], "interview")).json()["data"]["status"] == "interview"
    # hired is terminal
    assert (await move(client, h, app["id"], "hired")).status_code == 200
    terminal = problem(await move(client, h, app["id"], "rejected"), 409, "transition_not_allowed")
    assert terminal["allowed"] == []
    final = (await client.get(f"/api/v1/applications/{app['id']}", headers=h)).json()["data"]
    assert [e["status"] for e in final["status_history"]] == [
        "new",
        "interview",
        "rejected",
        "interview",
        "hired",
    ]
    assert final["stage"]["name"] == "Hired"


async def test_stale_if_match_is_412(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    ok = await client.put(
        f"/api/v1/applications/{app['id']}/status",
        json={"status": "screening"},
        headers={**account.headers, "If-Match": '"1"'},
    )
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    stale = await client.put(
        f"/api/v1/applications/{app['id']}/status",
        json={"status": "interview"},
        headers={**account.headers, "If-Match": '"1"'},
    )
    problem(stale, 412, "version_conflict")
    garbage = await client.put(
        f"/api/v1/applications/{app['id']}/status",
        json={"status": "interview"},
        headers={**account.headers, "If-Match": "banana"},
    )
    problem(garbage, 400)
    hold = await client.patch(
        f"/api/v1/applications/{app['id']}",
        json={"legal_hold": True},
        headers={**account.headers, "If-Match": '"1"'},
    )
    problem(hold, 412)


async def test_concurrent_moves_never_lose_history(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    apps = [await make_application(account, job["id"]) for _ in range(3)]
    targets = ["screening", "interview", "offer", "hired", "rejected", "withdrawn"]
    for app in apps:
        responses = await asyncio.gather(*(move(client, account.headers, app["id"], t) for t in targets))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 409}, [r.text for r in responses]
        assert 200 in statuses
        async with runtime.transaction() as session:
            history = list(
                await session.execute(
                    select(StatusChange.from_status, StatusChange.status)
                    .where(StatusChange.application_id == uuid.UUID(app["id"]))
                    .order_by(StatusChange.changed_at, StatusChange.id)
                )
            )
        # every successful move left one entry, and each entry starts where the previous ended
        assert len(history) == 1 + statuses.count(200)
        for (_, before), (source, _) in itertools.pairwise(history):
            assert source == before
        final = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
        assert final["status"] == history[-1][1]
        assert final["version"] == len(history)


async def test_list_filters_order_and_paging(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job_a = await make_job(account, title="A")
    job_b = await make_job(account, title="B")
    names = ["Charlie Brown", "alice Smith", "Bob Stone", "dave Null", "Eve Adams"]
    created = []
    for index, name in enumerate(names):
        job = job_a if index % 2 == 0 else job_b
        created.append(await make_application(account, job["id"], name=name, email=f"p{index}@Example.org"))
    await move(client, account.headers, created[1]["id"], "screening")
    await move(client, account.headers, created[3]["id"], "rejected")

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/v1/applications?{query}", headers=account.headers)
        assert response.status_code == 200, response.text
        return [a["candidate"]["name"] for a in response.json()["data"]]

    assert await ids("orderby=name&order=asc") == [
        "alice Smith",
        "Bob Stone",
        "Charlie Brown",
        "dave Null",
        "Eve Adams",
    ]
    assert await ids("orderby=date&order=asc") == names
    assert await ids("") == list(reversed(names))
    assert await ids(f"job_id={job_b['id']}&orderby=name&order=asc") == ["alice Smith", "dave Null"]
    assert await ids("status=screening") == ["alice Smith"]
    assert await ids("status=new,rejected&orderby=name&order=asc") == [
        "Bob Stone", "Charlie Brown", "dave Null", "Eve Adams"
    ]  # fmt: skip
    assert (await ids("orderby=status&order=asc"))[-1] == "dave Null"
    assert await ids("search=STONE") == ["Bob Stone"]
    assert await ids("search=p4@example") == ["Eve Adams"]
    assert await ids("search=%25") == []  # a literal %, not a wildcard
    page = (
        await client.get("/api/v1/applications?per_page=2&page=2&orderby=name&order=asc", headers=account.headers)
    ).json()
    assert [a["candidate"]["name"] for a in page["data"]] == ["Charlie Brown", "dave Null"]
    assert page["meta"] == {
        "total": 5,
        "per_page": 2,
        "current_page": 2,
        "total_pages": 3,
        "next_cursor": page["meta"]["next_cursor"],
    }
    today = page["data"][0]["created_at"][:10]
    assert len(await ids(f"date_from={today}&date_to={today}")) == 5
    assert await ids("date_from=2000-01-01&date_to=2000-12-31") == []


async def test_cursor_walks_every_row_once(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    for index in range(7):
        await make_application(account, job["id"], name=f"Person {index % 3}")
    for orderby in ("date", "name", "status"):
        for order in ("asc", "desc"):
            seen: list[str] = []
            url = f"/api/v1/applications?per_page=3&orderby={orderby}&order={order}"
            cursor = None
            pages = 0
            while True:
                page = (await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=account.headers)).json()
                pages += 1
                seen += [a["id"] for a in page["data"]]
                assert page["meta"]["current_page"] == pages
                cursor = page["meta"]["next_cursor"]
                if cursor is None:
                    break
            assert len(seen) == 7 and len(set(seen)) == 7, (orderby, order)
            full = (await client.get(f"{url.replace('per_page=3', 'per_page=100')}", headers=account.headers)).json()
            assert [a["id"] for a in full["data"]] == seen
    first = (await client.get("/api/v1/applications?per_page=3", headers=account.headers)).json()
    mismatch = await client.get(
        f"/api/v1/applications?per_page=3&orderby=name&cursor={first['meta']['next_cursor']}",
        headers=account.headers,
    )
    problem(mismatch, 422)
    problem(await client.get("/api/v1/applications?cursor=garbage!", headers=account.headers), 422)


async def test_invalid_list_parameters(account: Account, client: AsyncTestClient[Litestar]) -> None:
    for query, status in [
        ("per_page=0", 422),
        ("per_page=101", 422),
        ("page=0", 422),
        ("status=archived", 422),
        ("orderby=salary", 400),
        ("order=up", 400),
        ("job_id=not-a-uuid", 400),
        ("date_from=yesterday", 400),
        ("date_from=2025-02-01&date_to=2025-01-01", 422),
        ("colour=red", 400),
        ("per_page=ten", 400),
    ]:
        problem(await client.get(f"/api/v1/applications?{query}", headers=account.headers), status)
    body = problem(await client.get("/api/v1/applications?status=archived", headers=account.headers), 422)
    assert "withdrawn" in body["detail"]
    assert (await client.get("/api/v1/applications?per_page=100", headers=account.headers)).status_code == 200


async def test_bad_application_input(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    for body, pointer in [
        ({"job_id": job["id"]}, "/candidate"),
        ({"job_id": job["id"], "candidate": {"name": "A"}}, "/candidate/email"),
        ({"job_id": job["id"], "candidate": {"name": "A", "email": "not-an-email"}}, "/candidate/email"),
        ({"job_id": job["id"], "candidate": {"name": "A", "email": "a@b.co", "age": 3}}, "/candidate/age"),
        ({"job_id": "x", "candidate": {"name": "A", "email": "a@b.co"}}, "/job_id"),
    ]:
        found = problem(await client.post("/api/v1/applications", json=body, headers=account.headers), 422)
        assert found["errors"][0]["pointer"] == pointer, found
    problem(
        await client.post(
            "/api/v1/applications",
            json={"job_id": str(uuid.uuid4()), "candidate": {"name": "A", "email": "a@b.co"}},
            headers=account.headers,
        ),
        404,
    )


async def test_notes_and_author_rules(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    _, recruiter = await account.user("recruiter", name="Rita")
    _, other = await account.user("recruiter", name="Otto")
    url = f"/api/v1/applications/{app['id']}/notes"
    created = await client.post(url, json={"content": "Great fit"}, headers=recruiter)
    assert created.status_code == 201
    note = created.json()["data"]
    assert note["internal"] is True and note["author"]["name"] == "Rita"
    public_note = (await client.post(url, json={"content": "Shared", "internal": False}, headers=recruiter)).json()
    assert public_note["data"]["internal"] is False
    listed = (await client.get(url, headers=account.headers)).json()["data"]
    assert [n["content"] for n in listed] == ["Great fit", "Shared"]
    # someone else may not edit or delete it; the author and an admin may
    problem(
        await client.patch(f"{url}/{note['id']}", json={"content": "mine now"}, headers=other),
        403,
        "forbidden",
    )
    problem(await client.delete(f"{url}/{note['id']}", headers=other), 403)
    edited = await client.patch(f"{url}/{note['id']}", json={"content": "Great fit!"}, headers=recruiter)
    assert edited.status_code == 200 and edited.json()["data"]["content"] == "Great fit!"
    assert (await client.delete(f"{url}/{note['id']}", headers=account.headers)).status_code == 204
    problem(await client.patch(f"{url}/{note['id']}", json={"content": "x"}, headers=recruiter), 404)
    problem(await client.post(url, json={"content": ""}, headers=recruiter), 422)
    problem(await client.post(url, json={"content": "x", "pinned": True}, headers=recruiter), 422)
    _, compliance = await account.user("compliance")
    problem(await client.post(url, json={"content": "x"}, headers=compliance), 403)


async def test_ratings(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    _, rita = await account.user("recruiter", name="Rita")
    url = f"/api/v1/applications/{app['id']}/rating"
    first = await client.put(url, json={"rating": 4, "criteria": {"skills": 5, "culture": 3}}, headers=rita)
    assert first.status_code == 200
    assert first.json()["data"] == {
        "rating": 4,
        "criteria": {"skills": 5, "culture": 3},
        "average": 4.0,
        "count": 1,
    }
    second = (await client.put(url, json={"rating": 1}, headers=account.headers)).json()["data"]
    assert second["average"] == 2.5 and second["count"] == 2
    replaced = (await client.put(url, json={"rating": 2}, headers=rita)).json()["data"]
    assert replaced["average"] == 1.5 and replaced["count"] == 2
    listed = (await client.get(f"/api/v1/applications/{app['id']}/ratings", headers=account.headers)).json()["data"]
    assert sorted((r["reviewer"]["name"], r["rating"]) for r in listed) == [("Admin", 1), ("Rita", 2)]
    view = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
    assert view["rating"] == 1.5 and view["rating_count"] == 2
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": 3, "criteria": {"skills": 9}},
                {"rating": 3, "criteria": {"skills": "high"}}, {"rating": 3, "criteria": ["skills"]},
                {"rating": "5"}, {}):  # fmt: skip
        problem(await client.put(url, json=bad, headers=rita), 422)


async def test_legal_hold_roles(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    _, recruiter = await account.user("recruiter")
    _, compliance = await account.user("compliance")
    url = f"/api/v1/applications/{app['id']}"
    problem(await client.patch(url, json={"legal_hold": True}, headers=recruiter), 403)
    held = await client.patch(url, json={"legal_hold": True}, headers=compliance)
    assert held.status_code == 200 and held.json()["data"]["legal_hold"] is True
    assert held.json()["data"]["version"] == 2
    problem(await client.patch(url, json={"legal_hold": "yes"}, headers=compliance), 422)
    problem(await move(client, compliance, app["id"], "screening"), 403)


async def test_hiring_manager_sees_only_their_postings(account: Account, client: AsyncTestClient[Litestar]) -> None:
    manager_id, manager = await account.user("hiring_manager")
    theirs = await make_job(account, hiring_team=[manager_id])
    other = await make_job(account)
    mine = await make_application(account, theirs["id"])
    hidden = await make_application(account, other["id"])
    listed = (await client.get("/api/v1/applications", headers=manager)).json()
    assert [a["id"] for a in listed["data"]] == [mine["id"]] and listed["meta"]["total"] == 1
    problem(await client.get(f"/api/v1/applications/{hidden['id']}", headers=manager), 404)
    problem(await move(client, manager, hidden["id"], "screening"), 404)
    assert (await move(client, manager, mine["id"], "screening")).status_code == 200
    notes_url = f"/api/v1/applications/{mine['id']}/notes"
    assert (await client.post(notes_url, json={"content": "ok"}, headers=manager)).status_code == 201
    assert (
        await client.put(f"/api/v1/applications/{mine['id']}/rating", json={"rating": 5}, headers=manager)
    ).status_code == 200
    problem(
        await client.patch(f"/api/v1/applications/{mine['id']}", json={"legal_hold": True}, headers=manager),
        403,
    )
    for job in (theirs, other):  # adding candidates is a recruiter's job
        created = await client.post(
            "/api/v1/applications",
            json={"job_id": job["id"], "candidate": {"name": "X", "email": "x@example.com"}},
            headers=manager,
        )
        problem(created, 403)


async def test_another_accounts_application_is_not_found(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    job = await make_job(other_account)
    theirs = await make_application(other_account, job["id"])
    base = f"/api/v1/applications/{theirs['id']}"
    h = account.headers
    problem(await client.get(base, headers=h), 404)
    problem(await move(client, h, theirs["id"], "screening"), 404)
    problem(await client.patch(base, json={"legal_hold": True}, headers=h), 404)
    problem(await client.post(f"{base}/notes", json={"content": "x"}, headers=h), 404)
    problem(await client.get(f"{base}/notes", headers=h), 404)
    problem(await client.put(f"{base}/rating", json={"rating": 3}, headers=h), 404)
    problem(await client.get(f"{base}/ratings", headers=h), 404)
    assert (await client.get("/api/v1/applications", headers=h)).json()["meta"]["total"] == 0
    assert (await client.get(base, headers=other_account.headers)).status_code == 200


async def test_actions_are_audited_without_personal_data(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    marker = f"Marker{uuid.uuid4().hex[:8]}"
    job = await make_job(account)
    app = await make_application(account, job["id"], name=marker, email=f"{marker}@example.com")
    await move(client, account.headers, app["id"], "screening", note=f"note {marker}", reason=f"reason {marker}")
    note = (
        await client.post(f"/api/v1/applications/{app['id']}/notes", json={"content": marker}, headers=account.headers)
    ).json()["data"]
    await client.patch(
        f"/api/v1/applications/{app['id']}/notes/{note['id']}",
        json={"content": marker + "!"},
        headers=account.headers,
    )
    await client.delete(f"/api/v1/applications/{app['id']}/notes/{note['id']}", headers=account.headers)
    await client.put(f"/api/v1/applications/{app['id']}/rating", json={"rating": 3}, headers=account.headers)
    await client.patch(f"/api/v1/jobs/{job['id']}", json={"title": "New title"}, headers=account.headers)
    async with runtime.transaction() as session:
        rows: list[Any] = list(
            await session.execute(
                select(AuditEvent.action, AuditEvent.data)
                .where(AuditEvent.account_id == account.id)
                .order_by(AuditEvent.seq)
            )
        )
    actions = [r.action for r in rows]
    for expected in ("job.created", "application.created", "application.status_changed", "note.created",
                     "note.updated", "note.deleted", "rating.set", "job.updated"):  # fmt: skip
        assert expected in actions
    assert marker not in str([r.data for r in rows])


async def test_jsonapi_applicant_views(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    other_job = await make_job(account)
    app = await make_application(account, job["id"], name="Jay Son")
    await make_application(account, other_job["id"])
    stages = {
        s["status"]: s["id"] for s in (await client.get("/api/v1/stages", headers=account.headers)).json()["data"]
    }
    listed = await client.get(f"/api/v1/applicants?filter[job_posting_id]={job['id']}", headers=account.headers)
    data = assert_jsonapi(listed, 200)["data"]
    assert len(data) == 1 and data[0]["type"] == "applicant" and data[0]["id"] == app["id"]
    assert data[0]["attributes"]["application_stage_id"] == stages["new"]
    assert set(data[0]["attributes"]) == {"application_stage_id", "created_at", "email", "name"}
    assert data[0]["relationships"]["applicant_documents"]["data"] == []
    by_stage = assert_jsonapi(
        await client.get(
            f"/api/v1/applicants?filter[application_stage_id]={stages['new']}&page[size]=1",
            headers=account.headers,
        ),
        200,
    )
    assert len(by_stage["data"]) == 1 and by_stage["meta"]["total"] == 2
    with_docs = assert_jsonapi(
        await client.get(f"/api/v1/applicants/{app['id']}?include=applicant_documents", headers=account.headers), 200
    )
    assert with_docs["included"] == []

    def put(stage: str, **extra: Any) -> Any:
        return client.put(
            f"/api/v1/applicants/{app['id']}",
            json={"data": {"type": "applicant", "attributes": {"application_stage_id": stage}, **extra}},
            headers={**account.headers, "Content-Type": "application/vnd.api+json"},
        )

    moved = assert_jsonapi(await put(stages["interview"]), 200)
    assert moved["data"]["attributes"]["application_stage_id"] == stages["interview"]
    rest = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
    assert rest["status"] == "interview" and len(rest["status_history"]) == 2
    jsonapi_error(await put(stages["new"]), 409, "transition_not_allowed")
    jsonapi_error(await put(str(uuid.uuid4())), 422)
    jsonapi_error(await put(stages["offer"], id=str(uuid.uuid4())), 409, "id_mismatch")
    jsonapi_error(
        await client.put(
            f"/api/v1/applicants/{app['id']}",
            json={
                "data": {
                    "type": "applicant",
                    "attributes": {"application_stage_id": stages["offer"], "name": "x"},
                }
            },
            headers={**account.headers, "Content-Type": "application/vnd.api+json"},
        ),
        422,
        "unknown_field",
    )
    jsonapi_error(await client.get("/api/v1/applicants?page[size]=0", headers=account.headers), 400)
    jsonapi_error(await client.get("/api/v1/applicants?include=notes", headers=account.headers), 400)


async def test_search_and_name_order_are_unicode_aware(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    for name in ("Ömer Öztürk", "Zoë Åberg", "anna Ärm"):
        await make_application(account, job["id"], name=name)
    found = (await client.get("/api/v1/applications?search=ÖZTÜRK", headers=account.headers)).json()["data"]
    assert [a["candidate"]["name"] for a in found] == ["Ömer Öztürk"]
    found = (await client.get("/api/v1/applications?search=åberg", headers=account.headers)).json()["data"]
    assert [a["candidate"]["name"] for a in found] == ["Zoë Åberg"]
    seen: list[str] = []
    cursor = ""
    while True:
        page = (
            await client.get(f"/api/v1/applications?orderby=name&order=asc&per_page=1{cursor}", headers=account.headers)
        ).json()
        seen += [a["candidate"]["name"] for a in page["data"]]
        assert page["meta"]["total"] == 3
        if not page["meta"]["next_cursor"]:
            break
        cursor = f"&cursor={page['meta']['next_cursor']}"
    assert sorted(seen) == sorted(["Ömer Öztürk", "Zoë Åberg", "anna Ärm"]) and len(seen) == 3


async def test_concurrent_ratings_keep_the_mean_right(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    reviewers = [await account.user("recruiter") for _ in range(4)]
    url = f"/api/v1/applications/{app['id']}/rating"
    responses = await asyncio.gather(
        *(
            client.put(url, json={"rating": score}, headers=headers)
            for score, (_, headers) in zip((1, 2, 4, 5), reviewers, strict=True)
        )
    )
    assert all(r.status_code == 200 for r in responses)
    view = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
    assert view["rating_count"] == 4 and view["rating"] == 3.0

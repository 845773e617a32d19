"""The outbox's producers and the change feed (§12): every domain event in the transaction of its change, with
the state at that moment; ``GET /api/v1/events`` replays them in order; retention; erasure redacts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.events import listener
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from ats import ATSConfig, ATSPlugin
from ats.auth import Principal
from ats.db import utcnow
from ats.runtime import Runtime
from ats.services import feed, jobs
from ats.settings import Settings
from tests.conftest import PASSWORD, Account, problem
from tests.integration.helpers import make_application, make_job, move
from tests.integration.test_public_apply import apply_body, post_apply
from tests.samples import PDF


async def read_all(account: Account, *, after: int = 0, limit: int = 3, types: str | None = None) -> list[Any]:
    """Every event after ``after``, page by page as an integration reads them."""
    seen: list[Any] = []
    while True:
        query = f"/api/v1/events?after={after}&limit={limit}" + (f"&types={types}" if types else "")
        response = await account.client.get(query, headers=account.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += body["data"]
        assert body["meta"]["next_after"] == (body["data"][-1]["position"] if body["data"] else after)
        after = body["meta"]["next_after"]
        if not body["meta"]["has_more"]:
            return seen


@contextmanager
def listening(runtime: Runtime) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """What the plugin's listeners are handed (the app's ``emit``), recorded."""
    heard: list[tuple[str, dict[str, Any]]] = []
    original = runtime.emit

    def emit(name: str, **kwargs: Any) -> None:
        heard.append((name, kwargs))
        if original is not None:
            original(name, **kwargs)

    runtime.emit = emit
    try:
        yield heard
    finally:
        runtime.emit = original


async def test_every_change_is_in_the_feed_once_in_order_with_its_state_at_that_moment(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    admin = account.headers
    job = await make_job(account)
    job_updated = (await client.patch(f"/api/v1/jobs/{job['id']}", json={"location": "Berlin"}, headers=admin)).json()
    application = await make_application(account, job["id"])
    base = f"/api/v1/applications/{application['id']}"
    screening = (await move(client, admin, application["id"], "screening", note="Strong CV")).json()["data"]
    interview = (await move(client, admin, application["id"], "interview")).json()["data"]
    note = (await client.post(f"{base}/notes", json={"content": "Call on Monday"}, headers=admin)).json()["data"]
    edited = (await client.patch(f"{base}/notes/{note['id']}", json={"content": "Called"}, headers=admin)).json()
    assert (await client.delete(f"{base}/notes/{note['id']}", headers=admin)).status_code == 204
    rating = await client.put(f"{base}/rating", json={"rating": 4, "criteria": {"skills": 5}}, headers=admin)
    assert rating.status_code == 200
    held = (await client.patch(base, json={"legal_hold": True}, headers=admin)).json()["data"]
    files = {"file": ("cv.pdf", PDF, "application/pdf")}
    document = (await client.post(f"{base}/documents", files=files, data={"type": "cv"}, headers=admin)).json()
    assert (await client.delete(f"{base}/documents/{document['data']['id']}", headers=admin)).status_code == 204
    applied = await post_apply(client, apply_body(job["id"]))
    assert applied.status_code == 201
    applicant_id = applied.json()["data"]["id"]

    everything = await read_all(account)
    assert [e["position"] for e in everything] == list(range(1, len(everything) + 1))
    # each new person (§13) is announced just before the application that brought them
    people = [i for i, e in enumerate(everything) if e["type"].startswith("candidate.")]
    assert [everything[i]["type"] for i in people] == ["candidate.created", "candidate.created"]
    assert [everything[i + 1]["type"] for i in people] == ["application.created", "application.created"]
    events = [e for e in everything if not e["type"].startswith("candidate.")]
    assert [e["type"] for e in events] == [
        "job.created",
        "job.updated",
        "application.created",
        "note.created",
        "application.status_changed",
        "application.status_changed",
        "note.created",
        "note.updated",
        "note.deleted",
        "rating.set",
        "application.updated",
        "document.uploaded",
        "document.deleted",
        "application.created",
    ]
    assert len({e["id"] for e in everything}) == len(everything)
    assert {e["account_id"] for e in events} == {str(account.id)}
    data = [e["data"] for e in events]
    # each payload is the object as the API answered right after that change, not as it is now
    assert data[0] == job and data[1] == job_updated["data"] and data[1]["location"] == "Berlin"
    assert data[2] == application
    assert data[4] == screening and data[5] == interview
    assert data[4]["status"] == "screening" and data[5]["status"] == "interview"
    assert data[4]["status_history"][-1]["changed_at"] == screening["status_history"][-1]["changed_at"]
    assert data[3]["content"] == "Strong CV" and data[3]["application_id"] == application["id"]
    assert data[6] == {**note, "application_id": application["id"]}
    assert data[7] == {**edited["data"], "application_id": application["id"]}
    assert data[8]["content"] == "Called"
    assert data[9]["rating"] == 4 and data[9]["criteria"] == {"skills": 5} and data[9]["count"] == 1
    assert data[9]["reviewer"]["id"] == str(account.admin_id)
    assert data[10] == held and data[10]["legal_hold"] is True
    assert data[11] == {**document["data"], "application_id": application["id"]}
    assert data[11]["upload_status"] == "uploaded"
    assert data[12]["id"] == document["data"]["id"]
    current = (await client.get(f"/api/v1/applications/{applicant_id}", headers=admin)).json()["data"]
    assert data[13] == current  # the public apply's payload is built without a query: it must match the read
    assert [d["upload_status"] for d in data[13]["documents"]] == ["uploading"]

    # types filter the feed; ``after`` continues it
    statuses = await read_all(account, types="application.status_changed")
    assert [e["position"] for e in statuses] == [events[4]["position"], events[5]["position"]]
    last = len(everything)
    assert [e["position"] for e in await read_all(account, after=last - 2)] == [last - 1, last]
    assert (await read_all(account, after=last)) == []


async def test_another_accounts_events_never_appear(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    mine = await make_job(account)
    theirs = await make_job(other_account)
    await make_application(other_account, theirs["id"])
    events = await read_all(account, limit=100)
    assert [(e["type"], e["data"]["id"]) for e in events] == [("job.created", mine["id"])]
    assert [e["type"] for e in await read_all(other_account)] == [
        "job.created",
        "candidate.created",
        "application.created",
    ]


async def test_listeners_are_fed_after_commit_and_a_rollback_leaves_no_event(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    job = await make_job(account)
    application = await make_application(account, job["id"])
    with listening(runtime) as heard:
        moved = await move(client, account.headers, application["id"], "screening")
        assert moved.status_code == 200
        assert (await move(client, account.headers, application["id"], "new")).status_code == 409

        class Boom(Exception):
            pass

        try:
            async with runtime.transaction() as session:
                await jobs.create_job(session, Principal.system(account.id), {"title": "Never"})
                raise Boom
        except Boom:
            pass
    events = await read_all(account)
    assert [e["type"] for e in events] == [
        "job.created",
        "candidate.created",
        "application.created",
        "application.status_changed",
    ]
    assert [name for name, _ in heard] == ["application.status_changed"]
    kwargs = heard[0][1]
    # the ids host code always got, and the envelope the outbox holds
    assert kwargs["application_id"] == uuid.UUID(application["id"]) and kwargs["account_id"] == account.id
    assert (kwargs["from_status"], kwargs["to_status"]) == ("new", "screening")
    assert kwargs["event"] == events[-1]


async def _backdate(runtime: Runtime, account: Account, through: int, days: int) -> None:
    async with runtime.transaction() as session:
        await session.execute(
            text("UPDATE outbox_events SET occurred_at = :at WHERE account_id = :account AND position <= :through"),
            {"at": utcnow() - timedelta(days=days), "account": account.id, "through": through},
        )


async def test_events_past_retention_are_gone_and_an_older_position_is_410(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    for index in range(4):
        await make_job(account, title=f"Job {index}")
    await _backdate(runtime, account, through=2, days=runtime.settings.event_retention // 86400 + 1)

    gone = problem(await client.get("/api/v1/events?after=0", headers=account.headers), 410, "events_pruned")
    assert gone["oldest_position"] == 3 and gone["after"] == 2
    assert gone["errors"][0]["pointer"] == "after"
    problem(await client.get("/api/v1/events?after=1", headers=account.headers), 410, "events_pruned")
    assert [e["position"] for e in await read_all(account, after=2)] == [3, 4]
    # no ``after``: from the oldest retained
    first = (await client.get("/api/v1/events", headers=account.headers)).json()
    assert [e["position"] for e in first["data"]] == [3, 4] and first["meta"]["oldest_position"] == 3

    # the background sweep deletes them; the answers stay the same
    assert await feed.prune(runtime.uow, retention=runtime.settings.event_retention) >= 2
    async with runtime.transaction() as session:
        left = await session.scalar(
            text("SELECT array_agg(position ORDER BY position) FROM outbox_events WHERE account_id = :a"),
            {"a": account.id},
        )
    assert left == [3, 4]
    problem(await client.get("/api/v1/events?after=1", headers=account.headers), 410, "events_pruned")

    # everything pruned: an old position is still 410, the current one is fine
    await _backdate(runtime, account, through=4, days=runtime.settings.event_retention // 86400 + 1)
    await feed.prune(runtime.uow, retention=runtime.settings.event_retention)
    gone = problem(await client.get("/api/v1/events?after=3", headers=account.headers), 410, "events_pruned")
    assert gone["oldest_position"] is None and gone["after"] == 4
    assert (await read_all(account, after=4)) == []


async def test_erasure_leaves_ids_only_in_the_outbox_and_a_tombstone(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    secret = uuid.uuid4().hex
    job = await make_job(account)
    person = {
        "name": f"Name{secret}",
        "email": f"mail{secret}@example.com",
        "phone": f"+49{int(secret[:8], 16)}",
        "address": {"street": f"Street{secret}", "city": f"City{secret}"},
    }
    created = await client.post(
        "/api/v1/applications",
        json={
            "job_id": job["id"],
            "candidate": person,
            "cover_letter": f"Letter{secret}",
            "custom_fields": {"q": f"Answer{secret}"},
        },
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    application_id = created.json()["data"]["id"]
    base = f"/api/v1/applications/{application_id}"
    await move(client, account.headers, application_id, "screening", note=f"Note{secret}", reason=f"Reason{secret}")
    await client.post(f"{base}/notes", json={"content": f"Other{secret}"}, headers=account.headers)
    files = {"file": (f"File{secret}.pdf", PDF, "application/pdf")}
    assert (
        await client.post(f"{base}/documents", files=files, data={"type": "cv"}, headers=account.headers)
    ).status_code == 201

    async def outbox_text() -> str:
        async with runtime.transaction() as session:
            return str(await session.scalar(text("SELECT string_agg(data::text, ' ') FROM outbox_events")))

    assert secret in await outbox_text()  # the payloads did carry the person's data
    erased = await client.delete(f"{base}?reason=candidate_request", headers=account.headers)
    assert erased.status_code == 200, erased.text
    assert secret not in await outbox_text()

    events = await read_all(account, limit=100)
    mine = [e for e in events if e["type"].split(".")[0] not in ("job", "candidate")]
    people = [e for e in events if e["type"].startswith("candidate.")]
    assert [e["type"] for e in people] == ["candidate.created", "candidate.erased"]  # the person went with it
    # the person's earlier event keeps their id only; the tombstone is ids only
    assert [e["data"] for e in people] == [
        {"candidate_id": people[0]["data"]["candidate_id"], "redacted": True},
        {"candidate_id": people[0]["data"]["candidate_id"]},
    ]
    assert mine[-1]["type"] == "application.erased"
    assert mine[-1]["data"] == {"application_id": application_id, "job_id": job["id"]}
    for event in mine[:-1]:
        assert event["data"]["application_id"] == application_id and event["data"]["redacted"] is True
        assert set(event["data"]) <= {"id", "application_id", "job_id", "redacted"}


async def test_bad_feed_parameters_are_4xx_problems(client: AsyncTestClient[Litestar], account: Account) -> None:
    for query, pointer in (
        ("after=-1", "after"),
        ("after=100000000000000000000000000000", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("types=application.created,lunch.eaten", "types"),
    ):
        body = problem(await client.get(f"/api/v1/events?{query}", headers=account.headers), 422, "validation_failed")
        assert [e["pointer"] for e in body["errors"]] == [pointer], query
    problem(await client.get("/api/v1/events?after=abc", headers=account.headers), 400)
    _, recruiter = await account.user("recruiter")
    problem(await client.get("/api/v1/events", headers=recruiter), 403, "forbidden")


async def test_retentions_erasure_redacts_too(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    secret = uuid.uuid4().hex
    job = await make_job(account)
    application = await make_application(account, job["id"], name=f"Retained{secret}")
    await move(client, account.headers, application["id"], "rejected", note=f"Why{secret}")
    async with runtime.transaction() as session:
        await session.execute(
            text(
                "UPDATE applications SET status_changed_at = status_changed_at - make_interval(days => :days) WHERE id = :id"
            ),
            {"days": runtime.settings.retention_days + 1, "id": uuid.UUID(application["id"])},
        )
    run = await client.post("/api/v1/retention/run", headers=account.headers)
    assert run.status_code == 200 and run.json()["data"]["erased"] == [application["id"]]
    async with runtime.transaction() as session:
        stored = await session.scalar(
            text("SELECT string_agg(data::text, ' ') FROM outbox_events WHERE account_id = :a"), {"a": account.id}
        )
    assert secret not in str(stored)
    events = await read_all(account, limit=100)
    assert events[-1]["type"] == "application.erased"
    assert events[-1]["data"] == {"application_id": application["id"], "job_id": job["id"]}


HEARD: list[tuple[str, dict[str, Any]]] = []


@listener("note.created", "job.created")
async def _host_listener(**kwargs: Any) -> None:
    HEARD.append((str(kwargs["event"]["type"]), kwargs))


async def test_a_host_app_under_a_prefix_hears_every_event_and_its_urls_name_the_prefix(
    settings: Settings, account: Account
) -> None:
    HEARD.clear()
    host = Litestar(
        plugins=[ATSPlugin(ATSConfig(settings=settings, path_prefix="/ats", background_jobs=False))],
        listeners=[_host_listener],
    )
    async with AsyncTestClient(app=host) as client:
        token = await client.post("/ats/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        job = await client.post("/ats/api/v1/jobs", json={"title": "Host", "status": "published"}, headers=headers)
        job_id = job.json()["data"]["id"]
        person = {"name": "Ada", "email": f"ada-{uuid.uuid4().hex[:8]}@example.com"}
        created = await client.post(
            "/ats/api/v1/applications", json={"job_id": job_id, "candidate": person}, headers=headers
        )
        base = f"/ats/api/v1/applications/{created.json()['data']['id']}"
        await client.post(f"{base}/notes", json={"content": "hello"}, headers=headers)
        files = {"file": ("cv.pdf", PDF, "application/pdf")}
        assert (
            await client.post(f"{base}/documents", files=files, data={"type": "cv"}, headers=headers)
        ).status_code == 201
        feed_page = (await client.get("/ats/api/v1/events?types=document.uploaded", headers=headers)).json()
        await asyncio.sleep(0.2)  # Litestar runs listeners in the background
    [uploaded] = feed_page["data"]
    assert uploaded["data"]["url"].startswith(f"{base}/documents/")
    assert sorted(name for name, _ in HEARD) == ["job.created", "note.created"]
    assert all(kwargs["account_id"] == account.id for _, kwargs in HEARD)


async def test_a_payload_read_from_the_database_sees_every_earlier_position(account: Account, runtime: Runtime) -> None:
    """Positions follow commit order, and a payload read from the database is read under the account's lock: a
    person edited while their application's move is open waits, then shows the move (an integration applying
    events in order would otherwise step the application back to its old status)."""
    from sqlalchemy import select

    from ats.models import Application
    from ats.services import applications, candidates

    job = await make_job(account)
    app_id = uuid.UUID((await make_application(account, job["id"]))["id"])
    async with runtime.transaction() as session:
        person_id = await session.scalar(select(Application.candidate_id).where(Application.id == app_id))
    assert person_id is not None
    admin = Principal(type="user", id=account.admin_id, account_id=account.id, role="admin", name="Admin")
    before = (await read_all(account))[-1]["position"]

    async def edit_person() -> None:
        async with runtime.transaction() as session:
            await candidates.update(session, admin, person_id, {"city": "Lwów"})

    async with runtime.transaction() as session:
        await applications.move(session, admin, app_id, "screening")
        editor = asyncio.create_task(edit_person())
        await asyncio.sleep(1.0)  # the edit runs now: its payload must not be read before the move commits
    await asyncio.wait_for(editor, timeout=20)

    events = [
        e
        for e in await read_all(account, after=before)
        if e["type"] in ("application.status_changed", "candidate.updated")
    ]
    assert [e["type"] for e in events] == ["application.status_changed", "candidate.updated"]
    person = events[1]["data"]
    assert person["address"]["city"] == "Lwów"
    assert [(a["id"], a["status"]) for a in person["applications"]] == [(str(app_id), "screening")]

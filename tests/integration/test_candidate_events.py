"""Candidate events (§12, §13): each carries the person as an admin read them at that moment; erasing a person
leaves nothing of them in the outbox or in webhook bodies."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from ats.runtime import Runtime
from tests.conftest import Account
from tests.integration.helpers import make_application, make_job
from tests.integration.test_candidates import candidate_of
from tests.integration.test_candidates_merge import two_people
from tests.integration.test_change_feed import read_all
from tests.integration.test_public_apply import apply_body, post_apply
from tests.integration.test_webhooks import settled, subscribe
from tests.integration.webhook_receiver import Receiver


async def people_events(account: Account) -> list[dict[str, Any]]:
    return [e for e in await read_all(account, limit=200) if e["type"].startswith("candidate.")]


async def get(client: AsyncTestClient[Litestar], account: Account, candidate_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/candidates/{candidate_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]
    return found


async def test_candidate_events_carry_the_person_at_that_moment(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    admin = account.headers
    job = await make_job(account, title="Engineer")
    applied = await post_apply(client, apply_body(job["id"], email="jan@example.com", name="Jan Łukasiewicz"))
    assert applied.status_code == 201, applied.text
    person = await candidate_of(client, account, applied.json()["data"]["id"])
    # a recruiter's application of someone new makes a person too
    added = await make_application(account, job["id"], name="Ada Lovelace", phone="+44 20 7946 0958")
    other = await candidate_of(client, account, added["id"])
    patched = await client.patch(
        f"/api/v1/candidates/{person['id']}",
        json={"address": {"city": "Lwów"}, "links": ["linkedin.com/in/jan"]},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    # a known email attaches to the person: no new person, the person updated with the application
    second_job = await make_job(account, title="Logician")
    again = await post_apply(client, apply_body(second_job["id"], email="JAN@example.com", phone="+48 22 123 45 67"))
    assert again.status_code == 201
    now = await get(client, account, person["id"])

    created, created_other, updated, attached = await people_events(account)
    assert [e["type"] for e in (created, created_other, updated, attached)] == ["candidate.created"] * 2 + [
        "candidate.updated"
    ] * 2
    # the state as GET answered right after each change, not as it is now
    assert created["data"] == person and person["applications"][0]["job"]["title"] == "Engineer"
    assert created_other["data"] == other and other["phones"] == ["+442079460958"]
    assert updated["data"] == patched.json()["data"] and updated["data"]["address"]["city"] == "Lwów"
    assert len(updated["data"]["applications"]) == 1
    assert attached["data"] == now and now["phones"] == ["+48221234567"]
    assert [a["job"]["title"] for a in now["applications"]] == ["Engineer", "Logician"]
    assert attached["data"]["applications"][1]["id"] == again.json()["data"]["id"]


async def test_merge_and_undo_events_carry_both_people(client: AsyncTestClient[Litestar], account: Account) -> None:
    a, b, _ = await two_people(client, account)
    merged = await client.post(
        f"/api/v1/candidates/{a['id']}/merge", json={"other_id": b["id"]}, headers=account.headers
    )
    assert merged.status_code == 200, merged.text
    merge_id = merged.json()["data"]["merge_id"]
    survivor = await get(client, account, a["id"])
    undone = await client.post(f"/api/v1/candidate-merges/{merge_id}/undo", headers=account.headers)
    assert undone.status_code == 200, undone.text
    after_survivor, after_other = await get(client, account, a["id"]), await get(client, account, b["id"])

    events = await people_events(account)
    merge_event, undo_event = events[-2:]
    assert merge_event["type"] == "candidate.merged"
    assert merge_event["data"] == {**survivor, "merged_id": b["id"], "merge_id": merge_id}
    assert len(merge_event["data"]["applications"]) == 4 and b["email"] in merge_event["data"]["emails"]
    assert undo_event["type"] == "candidate.merge_undone"
    assert undo_event["data"] == {**after_survivor, "merged_id": b["id"], "merge_id": merge_id, "restored": after_other}


async def test_a_hiring_managers_change_is_announced_as_an_admin_reads_it(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    """The payload is the admin's view (§12): every application, not only those of the actor's postings."""
    manager_id, manager = await account.user("hiring_manager")
    theirs = await make_job(account, title="Theirs", hiring_team=[manager_id])
    elsewhere = await make_job(account, title="Elsewhere")
    first = await make_application(account, theirs["id"], email="grace@example.com")
    await make_application(account, elsewhere["id"], email="grace@example.com")
    person = await candidate_of(client, account, first["id"])
    tagged = await client.put(f"/api/v1/candidates/{person['id']}/tags", json={"tags": ["cobol"]}, headers=manager)
    assert tagged.status_code == 200, tagged.text
    assert len(tagged.json()["data"]["applications"]) == 1  # the manager sees their posting's application only
    # the second application attached to the person (an update), then the manager's tags
    attached, updated = [e for e in await people_events(account) if e["type"] == "candidate.updated"]
    assert len(attached["data"]["applications"]) == 2 and attached["data"]["tags"] == []
    assert updated["data"] == await get(client, account, person["id"])
    assert len(updated["data"]["applications"]) == 2


async def test_erasing_a_person_leaves_nothing_of_them_in_the_outbox_or_webhook_bodies(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    receiver = Receiver().start()
    try:
        hook = await subscribe(account, receiver.url)
        a, b, _ = await two_people(client, account)
        secret_a, secret_b = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
        for who, secret in ((a, secret_a), (b, secret_b)):
            changed = await client.patch(
                f"/api/v1/candidates/{who['id']}",
                json={"name": f"Name{secret}", "address": {"street": f"Street{secret}"}},
                headers=account.headers,
            )
            assert changed.status_code == 200, changed.text
            tags = {"tags": [f"t{secret}"]}
            tagged = await client.put(f"/api/v1/candidates/{who['id']}/tags", json=tags, headers=account.headers)
            assert tagged.status_code == 200, tagged.text
        merged = await client.post(
            f"/api/v1/candidates/{a['id']}/merge", json={"other_id": b["id"]}, headers=account.headers
        )
        assert merged.status_code == 200
        # while merged, the survivor carries b's emails and tags: its events then are about b too
        await client.put(f"/api/v1/candidates/{a['id']}/tags", json={"tags": ["merged"]}, headers=account.headers)
        undone = await client.post(
            f"/api/v1/candidate-merges/{merged.json()['data']['merge_id']}/undo", headers=account.headers
        )
        assert undone.status_code == 200

        async def everything() -> str:
            async with runtime.transaction() as session:
                mine = {"account": account.id}
                outbox = await session.scalar(
                    text("SELECT string_agg(data::text, ' ') FROM outbox_events WHERE account_id = :account"), mine
                )
                bodies = await session.scalar(
                    text(
                        "SELECT string_agg(convert_from(body, 'UTF8'), ' ') FROM webhook_deliveries"
                        " WHERE account_id = :account"
                    ),
                    mine,
                )
            return f"{outbox} {bodies}"

        await settled(account, hook["id"], len(await read_all(account, limit=200)))
        assert secret_a in await everything() and secret_b in await everything()
        assert b["email"] in await everything()

        erased = await client.delete(f"/api/v1/candidates/{b['id']}?reason=candidate_request", headers=account.headers)
        assert erased.status_code == 200, erased.text
        left = await everything()
        assert secret_b not in left and b["email"] not in left and b["phones"][0] not in left
        assert secret_a in left  # the other person is not erased

        erased = await client.delete(f"/api/v1/candidates/{a['id']}?reason=candidate_request", headers=account.headers)
        assert erased.status_code == 200, erased.text
        left = await everything()
        assert secret_a not in left and a["email"] not in left

        events = await people_events(account)
        tombstones = [e for e in events if e["type"] == "candidate.erased"]
        assert [e["data"] for e in tombstones] == [{"candidate_id": b["id"]}, {"candidate_id": a["id"]}]
        for event in events:
            if event["type"] != "candidate.erased":
                assert event["data"]["redacted"] is True
                assert set(event["data"]) <= {"candidate_id", "merged_id", "merge_id", "redacted"}
    finally:
        receiver.stop()


async def test_a_person_export_lists_every_delivery_concerning_them(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    receiver = Receiver().start()
    try:
        hook = await subscribe(account, receiver.url)
        job = await make_job(account, title="Logician")
        applied = await post_apply(client, apply_body(job["id"], email="jan.l@example.com", name="Jan Łukasiewicz"))
        assert applied.status_code == 201
        application_id = applied.json()["data"]["id"]
        person = await candidate_of(client, account, application_id)
        tagged = await client.put(
            f"/api/v1/candidates/{person['id']}/tags", json={"tags": ["logic"]}, headers=account.headers
        )
        assert tagged.status_code == 200
        someone_else = await make_application(account, job["id"])  # not theirs: not in their export
        await settled(account, hook["id"], len(await read_all(account, limit=200)))

        exported = await client.get(f"/api/v1/candidates/{person['id']}/export?format=json", headers=account.headers)
        assert exported.status_code == 200, exported.text
        document = exported.json()
        assert document["schema"] == "https://ats.invalid/schemas/candidate-export-v1.json"
        own = document["webhook_deliveries"]
        assert [(d["url"], d["event_type"]) for d in own] == [
            (receiver.url, "candidate.created"),
            (receiver.url, "candidate.updated"),
        ]
        assert all(d["delivered_at"].endswith("Z") for d in own)
        (theirs,) = document["applications"]
        assert theirs["application"]["id"] == application_id
        assert [(d["url"], d["event_type"]) for d in theirs["webhook_deliveries"]] == [
            (receiver.url, "application.created")
        ]
        assert someone_else["id"] not in exported.text

        pdf = await client.get(f"/api/v1/candidates/{person['id']}/export?format=pdf", headers=account.headers)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    finally:
        receiver.stop()

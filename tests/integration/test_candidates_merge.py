"""§13 duplicates, merge and undo: scored look-alikes, a merge that loses nothing, an undo that restores both."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from ats.models import CandidateMerge
from ats.runtime import Runtime
from tests.conftest import Account, problem
from tests.integration.helpers import make_application, make_job
from tests.integration.test_candidates import candidate_of
from tests.integration.test_public_apply import apply_body, post_apply


async def person(client: AsyncTestClient[Litestar], account: Account, job_id: str, **fields: Any) -> dict[str, Any]:
    """A candidate made by a recruiter's application, then given ``fields`` (PATCH)."""
    app = await make_application(account, job_id, name=fields.get("name", "Someone Else"))
    found = await candidate_of(client, account, app["id"])
    if fields:
        changed = await client.patch(f"/api/v1/candidates/{found['id']}", json=fields, headers=account.headers)
        assert changed.status_code == 200, changed.text
        found = changed.json()["data"]
    found["application_id"] = app["id"]
    return found


async def test_duplicates_are_scored_with_their_reasons(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    job = (await make_job(account))["id"]
    berlin = {"city": "Berlin"}
    base = await person(
        client,
        account,
        job,
        name="Johanna Schmidt",
        phones=["+49 30 1234567"],
        address=berlin,
        links=["https://www.linkedin.com/in/johanna-s"],
    )
    same_phone = await person(client, account, job, name="J. S.", phones=["+49 (30) 123 4567"])
    similar_name = await person(client, account, job, name="Johana Schmidt", address=berlin)
    same_link = await person(client, account, job, name="JS", links=["linkedin.com/in/johanna-s/?trk=x"])
    elsewhere = await person(client, account, job, name="Johanna Schmidt", address={"city": "Hamburg"})
    stranger = await person(client, account, job, name="Max Mustermann", address=berlin)
    await person(client, other_account, (await make_job(other_account))["id"], phones=["+49 30 1234567"])
    found = await client.get(f"/api/v1/candidates/{base['id']}/duplicates", headers=account.headers)
    assert found.status_code == 200, found.text
    items = found.json()["data"]
    by_id = {item["candidate"]["id"]: item for item in items}
    assert set(by_id) == {same_phone["id"], similar_name["id"], same_link["id"]}
    assert by_id[same_phone["id"]]["reasons"] == ["same_phone"]
    assert by_id[same_link["id"]]["reasons"] == ["same_link"]
    assert by_id[similar_name["id"]]["reasons"] == ["similar_name_same_city"]
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    assert 0 < by_id[similar_name["id"]]["score"] < by_id[same_phone["id"]]["score"] <= 1
    assert elsewhere["id"] not in by_id and stranger["id"] not in by_id
    problem(await client.get(f"/api/v1/candidates/{base['id']}/duplicates", headers=other_account.headers), 404)
    # An erased candidate has no duplicates to ask about.
    erased = await client.delete(f"/api/v1/candidates/{same_phone['id']}?reason=duplicate", headers=account.headers)
    assert erased.status_code == 200
    problem(await client.get(f"/api/v1/candidates/{same_phone['id']}/duplicates", headers=account.headers), 404)
    again = (await client.get(f"/api/v1/candidates/{base['id']}/duplicates", headers=account.headers)).json()
    assert same_phone["id"] not in {i["candidate"]["id"] for i in again["data"]}


async def two_people(client: AsyncTestClient[Litestar], account: Account) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Two records of one person: both applied to a shared posting and to one of their own."""
    shared = await make_job(account, title="Shared")
    first_job = await make_job(account, title="First")
    second_job = await make_job(account, title="Second")
    a_email, b_email = f"ana-{uuid.uuid4().hex[:6]}@example.com", f"ana.b-{uuid.uuid4().hex[:6]}@example.com"
    a_app = await post_apply(client, apply_body(first_job["id"], email=a_email, name="Ana Lima"))
    a_shared = await post_apply(client, apply_body(shared["id"], email=a_email, name="Ana Lima"))
    b_app = await post_apply(
        client,
        apply_body(
            second_job["id"],
            email=b_email,
            name="Ana B. Lima",
            phone="+55 11 91234-5678",
            consent={"privacy_policy": True, "privacy_policy_version": "2025-02", "talent_pool": True},
        ),
    )
    b_shared = await post_apply(client, apply_body(shared["id"], email=b_email, name="Ana B. Lima"))
    for response in (a_app, a_shared, b_app, b_shared):
        assert response.status_code == 201, response.text
    a = await candidate_of(client, account, a_app.json()["data"]["id"])
    b = await candidate_of(client, account, b_app.json()["data"]["id"])
    await client.put(f"/api/v1/candidates/{a['id']}/tags", json={"tags": ["java"]}, headers=account.headers)
    await client.put(f"/api/v1/candidates/{b['id']}/tags", json={"tags": ["python", "java"]}, headers=account.headers)
    b_first = b_app.json()["data"]["id"]
    await client.post(f"/api/v1/applications/{b_first}/notes", json={"content": "n"}, headers=account.headers)
    await client.put(f"/api/v1/applications/{b_first}/rating", json={"rating": 4}, headers=account.headers)
    a = (await client.get(f"/api/v1/candidates/{a['id']}", headers=account.headers)).json()["data"]
    b = (await client.get(f"/api/v1/candidates/{b['id']}", headers=account.headers)).json()["data"]
    return a, b, shared["id"]


async def test_a_merge_moves_everything_and_reports_conflicts(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    a, b, shared = await two_people(client, account)
    path = f"/api/v1/candidates/{a['id']}/merge"
    problem(await client.post(path, json={"other_id": a["id"]}, headers=account.headers), 422)
    problem(await client.post(path, json={"other_id": str(uuid.uuid4())}, headers=account.headers), 404)
    theirs = await person(client, other_account, (await make_job(other_account))["id"])
    problem(await client.post(path, json={"other_id": theirs["id"]}, headers=account.headers), 404)
    problem(await client.post(path, json={"other": b["id"]}, headers=account.headers), 422)
    _, compliance = await account.user("compliance")
    problem(await client.post(path, json={"other_id": b["id"]}, headers=compliance), 403)

    dry = await client.post(path, json={"other_id": b["id"], "dry_run": True}, headers=account.headers)
    assert dry.status_code == 200, dry.text
    preview = dry.json()["data"]
    assert preview["merge_id"] is None and preview["dry_run"] is True
    fields = {f["field"]: f for f in preview["fields"]}
    assert fields["name"]["result"] == "Ana Lima" and fields["name"]["conflict"] is True
    assert fields["emails"]["result"] == [a["email"], b["email"]]
    assert fields["tags"]["result"] == ["java", "python"]
    assert fields["consent"]["rule"] == "stricter" and fields["consent"]["result"]["talent_pool"] is False
    assert [c["job_id"] for c in preview["conflicts"]] == [shared]
    assert len(preview["candidate"]["applications"]) == 4
    # The dry run changed nothing.
    assert (await client.get(f"/api/v1/candidates/{b['id']}", headers=account.headers)).json()["data"] == b

    merged = await client.post(path, json={"other_id": b["id"]}, headers=account.headers)
    assert merged.status_code == 200, merged.text
    result = merged.json()["data"]
    assert result["merge_id"] and result["dry_run"] is False
    survivor = result["candidate"]
    assert {x["id"] for x in survivor["applications"]} == {x["id"] for x in a["applications"] + b["applications"]}
    assert survivor["emails"] == [a["email"], b["email"]] and survivor["phones"] == b["phones"]
    assert survivor["tags"] == ["java", "python"] and survivor["consent"]["talent_pool"] is False
    assert len(result["conflicts"]) == 1 and len(result["conflicts"][0]["applications"]) == 2
    moved = next(x["id"] for x in b["applications"] if x["job"]["title"] == "Second")
    notes = (await client.get(f"/api/v1/applications/{moved}/notes", headers=account.headers)).json()["data"]
    assert [n["content"] for n in notes] == ["n"]
    problem(await client.get(f"/api/v1/candidates/{b['id']}", headers=account.headers), 404)
    twice = problem(await client.post(path, json={"other_id": b["id"]}, headers=account.headers), 409)
    assert twice["merge_id"] == result["merge_id"]
    problem(
        await client.post(f"/api/v1/candidates/{b['id']}/merge", json={"other_id": a["id"]}, headers=account.headers),
        409,
    )
    events = (await client.get("/api/v1/audit-events?action=candidate.merged", headers=account.headers)).json()
    assert events["meta"]["total"] == 1
    assert set(events["data"][0]["data"]) == {"merge_id", "merged_id", "applications", "conflicts"}
    # The merged-away email still finds the person: a new apply joins the survivor.
    later = await post_apply(client, apply_body((await make_job(account))["id"], email=b["email"].upper()))
    assert later.status_code == 201
    listed = (await client.get("/api/v1/candidates?per_page=100", headers=account.headers)).json()
    assert b["id"] not in {x["id"] for x in listed["data"]}  # no new person, and the merged one is not listed
    survivor_now = (await client.get(f"/api/v1/candidates/{a['id']}", headers=account.headers)).json()["data"]
    assert later.json()["data"]["id"] in {x["id"] for x in survivor_now["applications"]}


async def test_undo_restores_both_and_keeps_later_changes(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account, runtime: Runtime
) -> None:
    a, b, _ = await two_people(client, account)
    merged = await client.post(
        f"/api/v1/candidates/{a['id']}/merge", json={"other_id": b["id"]}, headers=account.headers
    )
    merge_id = merged.json()["data"]["merge_id"]
    # After the merge: the survivor's city is set by hand, and the other applies again with their email.
    await client.patch(f"/api/v1/candidates/{a['id']}", json={"address": {"city": "Porto"}}, headers=account.headers)
    later = await post_apply(client, apply_body((await make_job(account))["id"], email=b["email"]))
    later_id = later.json()["data"]["id"]
    undo = f"/api/v1/candidate-merges/{merge_id}/undo"
    problem(await client.post(undo, headers=other_account.headers), 404)
    problem(await client.post(f"/api/v1/candidate-merges/{uuid.uuid4()}/undo", headers=account.headers), 404)
    undone = await client.post(undo, headers=account.headers)
    assert undone.status_code == 200, undone.text
    body = undone.json()["data"]
    survivor, restored = body["candidate"], body["restored"]
    assert restored["id"] == b["id"]
    assert {x["id"] for x in restored["applications"]} == {x["id"] for x in b["applications"]} | {later_id}
    assert {x["id"] for x in survivor["applications"]} == {x["id"] for x in a["applications"]}
    assert restored["emails"] == b["emails"] and restored["tags"] == b["tags"] and restored["consent"] == b["consent"]
    assert survivor["emails"] == a["emails"] and survivor["tags"] == a["tags"] and survivor["phones"] == a["phones"]
    assert survivor["address"]["city"] == "Porto"  # changed since the merge: kept
    assert survivor["consent"] == a["consent"]
    problem(await client.post(undo, headers=account.headers), 409)
    events = (await client.get("/api/v1/audit-events?action=candidate.merge_undone", headers=account.headers)).json()
    assert events["meta"]["total"] == 1


async def test_no_undo_after_the_window_or_after_an_erasure(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    a, b, _ = await two_people(client, account)
    merged = await client.post(
        f"/api/v1/candidates/{a['id']}/merge", json={"other_id": b["id"]}, headers=account.headers
    )
    merge_id = merged.json()["data"]["merge_id"]
    async with runtime.transaction() as session:
        await session.execute(
            update(CandidateMerge)
            .where(CandidateMerge.id == uuid.UUID(merge_id))
            .values(created_at=CandidateMerge.created_at - timedelta(days=runtime.settings.merge_undo_days, seconds=1))
        )
    late = problem(await client.post(f"/api/v1/candidate-merges/{merge_id}/undo", headers=account.headers), 409)
    assert str(runtime.settings.merge_undo_days) in late["detail"]

    c, d, _ = await two_people(client, account)
    merged = await client.post(
        f"/api/v1/candidates/{c['id']}/merge", json={"other_id": d["id"]}, headers=account.headers
    )
    merge_id = merged.json()["data"]["merge_id"]
    erased = await client.delete(f"/api/v1/candidates/{c['id']}?reason=candidate_request", headers=account.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["data"]["counts"]["applications"] == 4
    problem(await client.post(f"/api/v1/candidate-merges/{merge_id}/undo", headers=account.headers), 409)
    # Nothing of either record is left to find.
    for email in (c["email"], d["email"]):
        found = await client.get("/api/v1/data-subjects", params={"email": email}, headers=account.headers)
        assert found.json()["data"] == []
    async with runtime.transaction() as session:
        kept = await session.get(CandidateMerge, uuid.UUID(merge_id))
        assert kept is not None and kept.snapshot is None and kept.erased_at is not None


async def test_a_hiring_manager_may_not_merge_and_does_not_learn_of_people_outside_their_postings(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    """As everywhere in the API: a person the caller cannot see is a 404; one they can see but not merge, 403."""
    manager_id, manager = await account.user("hiring_manager")
    theirs = await make_job(account, hiring_team=[manager_id])
    elsewhere = (await make_job(account))["id"]
    mine_a = await person(client, account, theirs["id"])
    mine_b = await person(client, account, theirs["id"])
    hidden = await person(client, account, elsewhere)
    merge = f"/api/v1/candidates/{mine_a['id']}/merge"
    for other in (hidden["id"], str(uuid.uuid4())):
        for dry_run in (True, False):
            body = {"other_id": other, "dry_run": dry_run}
            problem(await client.post(merge, json=body, headers=manager), 404)
    body = {"other_id": mine_b["id"]}
    problem(
        await client.post(f"/api/v1/candidates/{hidden['id']}/merge", json=body, headers=manager),
        404,
    )
    problem(await client.post(merge, json={"other_id": mine_b["id"], "dry_run": True}, headers=manager), 403)
    problem(await client.post(merge, json=body, headers=manager), 403)
    # an undo of a merge of people they cannot see is a 404 too; of their own people, a 403
    merged_hidden = await client.post(
        f"/api/v1/candidates/{hidden['id']}/merge",
        json={"other_id": (await person(client, account, elsewhere))["id"]},
        headers=account.headers,
    )
    assert merged_hidden.status_code == 200, merged_hidden.text
    problem(
        await client.post(f"/api/v1/candidate-merges/{merged_hidden.json()['data']['merge_id']}/undo", headers=manager),
        404,
    )
    merged_mine = await client.post(merge, json=body, headers=account.headers)
    assert merged_mine.status_code == 200, merged_mine.text
    problem(
        await client.post(f"/api/v1/candidate-merges/{merged_mine.json()['data']['merge_id']}/undo", headers=manager),
        403,
    )
    # nothing changed for their refused attempts
    assert (await client.get(f"/api/v1/candidates/{hidden['id']}", headers=account.headers)).status_code == 200

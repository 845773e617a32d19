"""Webhooks end to end (§12): changes made through the API reach a real receiver, signed per Standard Webhooks,
in order per application, and equal to what the change feed replays; an erasure leaves ids only everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import Account
from tests.integration.helpers import make_application, make_job, move
from tests.integration.test_change_feed import read_all
from tests.integration.test_public_apply import apply_body, post_apply
from tests.integration.webhook_receiver import Receiver, eventually


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def subscribe(account: Account, url: str) -> dict[str, Any]:
    response = await account.client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["data"]
    return body


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every delivery the receiver got, each verified by the Standard Webhooks library, first copy of each id."""
    seen: dict[str, dict[str, Any]] = {}
    verifier = Webhook(secret)
    for request in list(receiver.requests):
        event: dict[str, Any] = verifier.verify(request.body, request.headers)
        assert request.headers["webhook-id"] == event["id"]
        seen.setdefault(event["id"], event)
    return list(seen.values())


async def test_api_changes_are_delivered_signed_in_order_and_equal_the_feed(
    account: Account, receiver: Receiver
) -> None:
    before = await read_all(account, limit=100)
    hook = await subscribe(account, receiver.url)
    job = await make_job(account)
    application = await make_application(account, job["id"])
    app_id = application["id"]
    for status in ("screening", "interview", "offer"):
        assert (await move(account.client, account.headers, app_id, status)).status_code == 200
    note = await account.client.post(
        f"/api/v1/applications/{app_id}/notes", json={"content": "Strong CV"}, headers=account.headers
    )
    assert note.status_code == 201, note.text
    applied = await post_apply(account.client, apply_body(job["id"]))
    assert applied.status_code == 201, applied.text

    feed = [e for e in await read_all(account, limit=100) if e not in before]
    assert len(feed) >= 8  # job, person, application, three moves, a note, the public apply's person and application
    await eventually(lambda: len({r.id for r in receiver.requests}) >= len(feed))
    delivered = verified(receiver, hook["secret"])

    # what was delivered is exactly what the feed replays: same ids, types, positions and payloads
    assert sorted(delivered, key=lambda e: e["position"]) == feed
    # one application's events arrive in the order they happened
    mine = [e["position"] for e in delivered if e["type"].startswith("application.") and e["data"]["id"] == app_id]
    assert mine == sorted(mine) and len(mine) == 4
    moves = [e["data"]["status"] for e in delivered if e["type"] == "application.status_changed"]
    assert moves == ["screening", "interview", "offer"]  # each payload is the state at its moment, not now
    assert {e["type"] for e in delivered} >= {
        "job.created",
        "candidate.created",
        "application.created",
        "application.status_changed",
        "note.created",
    }


async def test_an_erasure_reaches_the_receiver_as_ids_only_and_the_feed_keeps_no_person(
    account: Account, receiver: Receiver
) -> None:
    job = await make_job(account)
    application = await make_application(account, job["id"], name="Jan Łukasiewicz")
    app_id = application["id"]
    hook = await subscribe(account, receiver.url)
    assert (await move(account.client, account.headers, app_id, "screening")).status_code == 200
    await eventually(lambda: len(receiver.requests) >= 1)
    erased = await account.client.delete(
        f"/api/v1/applications/{app_id}?reason=candidate_request", headers=account.headers
    )
    assert erased.status_code == 200, erased.text

    def tombstone_arrived() -> bool:
        return any(r.event["type"] == "application.erased" for r in receiver.requests)

    await eventually(tombstone_arrived)
    [tombstone] = [e for e in verified(receiver, hook["secret"]) if e["type"] == "application.erased"]
    assert tombstone["data"] == {"application_id": app_id, "job_id": job["id"]}
    feed = await read_all(account, limit=100)
    about = [e for e in feed if app_id in str(e["data"])]
    assert about and all("Łukasiewicz" not in str(e) and application["candidate"]["email"] not in str(e) for e in feed)

"""Webhooks (§12) against a real HTTP receiver on loopback: subscriptions, signatures, delivery guarantees.

The suite's app delivers in the background as every API process does (its settings allow the loopback receiver
over http and retry within a second); some tests add engines of their own over the same database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ats import outbox
from ats.db import utcnow
from ats.delivery import Engine
from ats.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from ats.plugin import ATSConfig, ATSPlugin
from ats.runtime import Runtime
from ats.settings import Settings
from tests.conftest import Account, problem
from tests.integration.helpers import make_job
from tests.integration.webhook_receiver import Receiver, eventually, free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def subscribe(account: Account, url: str, events: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    response = await account.client.post(
        "/api/v1/webhooks", json={"url": url, "events": events or ["*"], **fields}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["data"]
    return body


async def emit(
    runtime: Runtime,
    account: Account,
    type: str = "application.status_changed",
    *,
    application_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    status: str = "interview",
) -> outbox.Appended:
    application_id = application_id or uuid.uuid4()
    job_id = job_id or uuid.uuid4()
    async with runtime.transaction() as session:
        return await outbox.append(
            session,
            account_id=account.id,
            type=type,
            data={"id": str(application_id), "status": status, "job_id": str(job_id)},
            application_id=application_id,
            job_id=job_id,
        )


async def deliveries(account: Account, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await account.client.get(
        f"/api/v1/webhooks/{webhook_id}/deliveries", params=params, headers=account.headers
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def settled(account: Account, webhook_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` deliveries are logged and none is pending (each outcome recorded); return them."""
    found: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal found
        found = await deliveries(account, webhook_id)
        return len(found) == count and all(d["status"] != "pending" for d in found)

    await eventually(done)
    return found


# ---------------------------------------------------------------------------------------------------------------
# subscriptions by API


async def test_subscriptions_crud_and_the_secret_shown_once(account: Account, receiver: Receiver) -> None:
    client, admin = account.client, account.headers
    job = await make_job(account)
    created = await subscribe(
        account,
        receiver.url,
        ["application.created", "application.status_changed"],
        filters={"job_ids": [job["id"]], "statuses": ["interview"]},
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) >= 6 + 32
    assert created["filters"] == {"job_ids": [job["id"]], "statuses": ["interview"]}
    assert created["active"] is True and created["disabled_reason"] is None
    one = (await client.get(f"/api/v1/webhooks/{created['id']}", headers=admin)).json()["data"]
    assert one["secret"] is None and one["url"] == receiver.url
    listed = (await client.get("/api/v1/webhooks", headers=admin)).json()
    assert [w["id"] for w in listed["data"]] == [created["id"]] and listed["data"][0]["secret"] is None
    patched = await client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["*"], "active": False}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["events"] == ["*"] and patched.json()["data"]["active"] is False
    assert patched.json()["data"]["filters"]["statuses"] == ["interview"]  # untouched
    assert (await client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin)).status_code == 204
    problem(await client.get(f"/api/v1/webhooks/{created['id']}", headers=admin), 404, "not_found")


async def test_bad_input_is_a_422_naming_the_field(
    account: Account, other_account: Account, receiver: Receiver
) -> None:
    client, admin = account.client, account.headers

    async def refused(body: dict[str, Any], pointer: str) -> None:
        response = await client.post("/api/v1/webhooks", json=body, headers=admin)
        found = problem(response, 422, "validation_failed")
        assert pointer in [e["pointer"] for e in found["errors"]], found

    good = {"url": receiver.url, "events": ["application.created"]}
    await refused({**good, "events": ["application.created", "application.exploded"]}, "/events/1")
    await refused({**good, "events": []}, "/events")
    await refused({**good, "url": "ftp://example.com/x"}, "/url")
    await refused({**good, "url": "not a url"}, "/url")
    await refused({**good, "url": "https://user:pw@example.com/x"}, "/url")
    await refused({**good, "filters": {"statuses": ["interview", "bogus"]}}, "/filters/statuses/1")
    await refused({**good, "filters": {"job_ids": [str(uuid.uuid4())]}}, "/filters/job_ids/0")
    await refused({**good, "filters": {"job_ids": ["not-a-uuid"]}}, "/filters/job_ids/0")
    await refused({**good, "filters": {"colour": "red"}}, "/filters/colour")
    await refused({**good, "secret": "mine"}, "/secret")
    other_job = await make_job(other_account)  # another account's job is no job here
    await refused({**good, "filters": {"job_ids": [other_job["id"]]}}, "/filters/job_ids/0")
    problem(
        await client.post("/api/v1/webhooks", content=b"{", headers={**admin, "Content-Type": "application/json"}), 400
    )

    # another account's subscription does not exist here; other roles may not manage webhooks
    theirs = await subscribe(other_account, receiver.url)
    for method, path in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/ping"),
        ("GET", "/deliveries"),
        ("POST", f"/deliveries/{uuid.uuid4()}/redeliver"),
    ):
        response = await client.request(
            method, f"/api/v1/webhooks/{theirs['id']}{path}", headers=admin, json={} if method == "PATCH" else None
        )
        problem(response, 404, "not_found")
    _, recruiter = await account.user("recruiter")
    problem(await client.get("/api/v1/webhooks", headers=recruiter), 403, "forbidden")
    problem(await client.post("/api/v1/webhooks", json=good, headers=recruiter), 403, "forbidden")
    mine = await subscribe(account, receiver.url)
    problem(await client.get(f"/api/v1/webhooks/{mine['id']}/deliveries?per_page=0", headers=admin), 422)
    problem(await client.patch(f"/api/v1/webhooks/{mine['id']}", json={"url": "gopher://x"}, headers=admin), 422)


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An app with the production defaults: https only, no private targets (and no background work)."""
    strict = dataclasses.replace(settings, webhooks_allow_http=False, webhooks_allow_private=False)
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=strict, background_jobs=False))])
    async with AsyncTestClient(app=app, timeout=60) as client:
        yield client


async def test_https_and_public_targets_only_by_default(
    account: Account, strict_client: AsyncTestClient[Litestar]
) -> None:
    for url in (
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://[::1]:8443/x",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://[fd00::1]/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://localhost:8443/x",
    ):
        response = await strict_client.post(
            "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=account.headers
        )
        body = problem(response, 422, "validation_failed")
        assert [e["pointer"] for e in body["errors"]] == ["/url"], (url, body)
    ok = await strict_client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/x", "events": ["*"]}, headers=account.headers
    )
    assert ok.status_code == 201, ok.text


async def test_delivery_time_refusal_after_dns_resolution(receiver: Receiver) -> None:
    """``localhost`` is a name: it is refused after resolution (loopback), and nothing reaches the receiver."""
    from ats import webhook_http

    body = b'{"id":"x"}'
    async with webhook_http.new_client() as client:
        refused = await webhook_http.post(
            client,
            f"http://localhost:{receiver.port}/hooks",
            body,
            {},
            time_limit=5,
            allow_http=True,
            allow_private=False,
        )
        assert refused.status_code is None and refused.error is not None
        assert refused.error.startswith("refused") and "loopback" in refused.error
        assert receiver.requests == []
        allowed = await webhook_http.post(
            client,
            f"http://localhost:{receiver.port}/hooks",
            body,
            {},
            time_limit=5,
            allow_http=True,
            allow_private=True,
        )
        assert allowed.ok and len(receiver.requests) == 1
        assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


# ---------------------------------------------------------------------------------------------------------------
# delivery


async def test_deliveries_are_signed_per_standard_webhooks(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    hook = await subscribe(account, receiver.url, ["application.status_changed", "application.created"])
    sent = [await emit(runtime, account) for _ in range(3)]
    await emit(runtime, account, "job.created")  # not subscribed
    await eventually(lambda: len(receiver.requests) >= 3)
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 3
    verifier = Webhook(hook["secret"])
    by_id = {r.id: r for r in receiver.requests}  # different applications: no order between them
    for event in sent:
        received = by_id[str(event.id)]
        payload = verifier.verify(received.body, received.headers)
        assert received.headers["webhook-id"] == str(event.id) == payload["id"]
        assert received.headers["content-type"] == "application/json"
        assert payload["type"] == "application.status_changed" and payload["position"] == event.position
        assert payload["account_id"] == str(account.id) and payload["data"]["status"] == "interview"
        assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    tampered = dict(receiver.requests[0].headers)
    with pytest.raises(WebhookVerificationError):
        verifier.verify(receiver.requests[0].body.replace(b"interview", b"hired"), tampered)
    log = await settled(account, hook["id"], 3)
    assert {d["event_id"] for d in log} == {str(e.id) for e in sent}
    for d in log:
        assert d["status"] == "delivered" and d["attempt_count"] == 1 and d["next_attempt_at"] is None
        [attempt] = d["attempts"]
        assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["duration_ms"] >= 0


async def test_filters_by_job_and_status(account: Account, runtime: Runtime, receiver: Receiver) -> None:
    job, other = await make_job(account), await make_job(account)
    await subscribe(account, receiver.url, filters={"job_ids": [job["id"]], "statuses": ["offer", "hired"]})
    wanted = await emit(runtime, account, job_id=uuid.UUID(job["id"]), status="offer")
    await emit(runtime, account, job_id=uuid.UUID(job["id"]), status="interview")
    await emit(runtime, account, job_id=uuid.UUID(other["id"]), status="offer")
    last = await emit(runtime, account, job_id=uuid.UUID(job["id"]), status="hired")
    await eventually(lambda: len(receiver.requests) >= 2)
    await asyncio.sleep(0.5)
    assert sorted(r.id for r in receiver.requests) == sorted([str(wanted.id), str(last.id)])


async def test_events_before_the_subscription_are_not_sent(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    await emit(runtime, account)
    await subscribe(account, receiver.url)
    after = await emit(runtime, account)
    await eventually(lambda: len(receiver.requests) >= 1)
    await asyncio.sleep(0.5)
    assert [r.id for r in receiver.requests] == [str(after.id)]


async def test_in_order_per_application_even_when_attempts_fail(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    """Every event's first try fails (500): an application's next event waits until the one before is delivered."""
    receiver.answer = lambda _id, earlier: 500 if earlier == 0 else 200
    receiver.delay = 0.02
    await subscribe(account, receiver.url)
    applications = [uuid.uuid4() for _ in range(4)]
    sent: dict[str, tuple[uuid.UUID, int]] = {}
    for n in range(5):
        for application_id in applications:
            event = await emit(runtime, account, application_id=application_id, status=f"s{n}")
            sent[str(event.id)] = (application_id, event.position)
    await eventually(lambda: len(receiver.ok()) >= len(sent), within=60)
    assert sorted(r.id for r in receiver.ok()) == sorted(sent)
    for application_id in applications:
        # every request (failed or not) of this application, in the order they arrived
        seen = [sent[r.id][1] for r in receiver.requests if sent[r.id][0] == application_id]
        delivered = [sent[r.id][1] for r in receiver.ok() if sent[r.id][0] == application_id]
        assert delivered == sorted(delivered)
        # a later event was never tried before every earlier one had been delivered
        assert seen == sorted(seen), seen


async def test_a_receiver_down_then_up_gets_everything(account: Account, runtime: Runtime) -> None:
    port = free_port()
    hook = await subscribe(account, f"http://127.0.0.1:{port}/hooks")
    sent = [await emit(runtime, account) for _ in range(5)]

    async def failed_twice() -> bool:
        return (
            all(d["attempt_count"] >= 2 for d in await deliveries(account, hook["id"]))
            and len(await deliveries(account, hook["id"])) == 5
        )

    await eventually(failed_twice)
    log = await deliveries(account, hook["id"])
    assert all(d["status"] == "pending" and d["next_attempt_at"] for d in log)
    assert all(a["status_code"] is None and a["error"].startswith("connection failed") for a in log[0]["attempts"])
    receiver = Receiver(port).start()
    try:
        await eventually(lambda: {r.id for r in receiver.requests} >= {str(e.id) for e in sent})
        await asyncio.sleep(0.5)
        # nothing lost; a duplicate could only repeat an id (at least once), and there is none here
        assert sorted(r.id for r in receiver.requests) == sorted(str(e.id) for e in sent)
        verifier = Webhook(hook["secret"])
        for r in receiver.requests:
            verifier.verify(r.body, r.headers)
        log = await settled(account, hook["id"], 5)
        assert all(d["status"] == "delivered" and d["attempts"][-1]["status_code"] == 200 for d in log)
    finally:
        receiver.stop()


async def test_two_more_engines_never_deliver_twice_and_keep_the_cap(
    account: Account, runtime: Runtime, receiver: Receiver, settings: Settings
) -> None:
    """The suite's app and two more engines over one database: each event once, at most the cap in flight."""
    receiver.delay = 0.05
    await subscribe(account, receiver.url)
    engines = [Engine(runtime.uow, settings) for _ in range(2)]
    tasks = [asyncio.create_task(e.run_forever()) for e in engines]
    try:
        async with runtime.transaction() as session:  # all at once: the engines find 40 due deliveries together
            sent = [
                await outbox.append(
                    session,
                    account_id=account.id,
                    type="application.created",
                    data={"status": "new"},
                    application_id=uuid.uuid4(),
                )
                for _ in range(40)
            ]
        await eventually(lambda: len(receiver.requests) >= 40, within=60)
        await asyncio.sleep(1.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(r.id for r in receiver.requests) == sorted(str(e.id) for e in sent)
    assert 1 < receiver.max_in_flight <= settings.webhooks_concurrency


async def test_a_slow_receiver_does_not_slow_requests(account: Account, runtime: Runtime, receiver: Receiver) -> None:
    receiver.delay = 5.0
    await subscribe(account, receiver.url)
    for _ in range(4):
        await emit(runtime, account, application_id=uuid.uuid4())
    await eventually(lambda: receiver.in_flight > 0)
    timings = []
    for _ in range(5):
        started = time.monotonic()
        response = await account.client.get("/api/v1/webhooks", headers=account.headers)
        timings.append(time.monotonic() - started)
        assert response.status_code == 200
    assert receiver.in_flight > 0  # the receiver was still holding deliveries meanwhile
    assert max(timings) < 2.0, timings  # far below the receiver's 5 s, even on a loaded machine


async def test_410_disables_the_subscription_without_retry(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    receiver.status = 410
    hook = await subscribe(account, receiver.url)
    await emit(runtime, account)

    async def disabled() -> bool:
        found = (await account.client.get(f"/api/v1/webhooks/{hook['id']}", headers=account.headers)).json()["data"]
        return found["active"] is False

    await eventually(disabled)
    got = (await account.client.get(f"/api/v1/webhooks/{hook['id']}", headers=account.headers)).json()["data"]
    assert got["disabled_reason"] == "gone"
    await emit(runtime, account)
    await asyncio.sleep(1.0)
    assert len(receiver.requests) == 1
    [log] = await deliveries(account, hook["id"])
    assert log["status"] == "failed" and log["attempt_count"] == 1 and log["last_status_code"] == 410
    # a ping to a disabled subscription is refused; set active again, it works
    problem(await account.client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=account.headers), 409)
    receiver.status = 200
    again = await account.client.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": True}, headers=account.headers)
    assert again.json()["data"]["active"] is True and again.json()["data"]["disabled_reason"] is None
    after = await emit(runtime, account)
    await eventually(lambda: len(receiver.ok()) == 1)
    await asyncio.sleep(0.5)
    # events of the disabled time were not queued (the change feed replays them); new ones go out again
    assert [r.id for r in receiver.requests[1:]] == [str(after.id)]


async def test_rotation_signs_with_both_secrets_for_24_hours(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    hook = await subscribe(account, receiver.url)
    rotated = await account.client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=account.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]
    assert new["secret"].startswith("whsec_") and new["secret"] != hook["secret"]
    assert new["previous_secret_expires_at"] is not None
    await emit(runtime, account)
    await eventually(lambda: len(receiver.requests) == 1)
    first = receiver.requests[0]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(new["secret"]).verify(first.body, first.headers)
    Webhook(hook["secret"]).verify(first.body, first.headers)
    # 24 hours later the old secret no longer signs
    async with runtime.transaction() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == uuid.UUID(hook["id"]))
            .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    await emit(runtime, account)
    await eventually(lambda: len(receiver.requests) == 2)
    second = receiver.requests[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    Webhook(new["secret"]).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(second.body, second.headers)


async def test_ping_and_redeliver(account: Account, runtime: Runtime, receiver: Receiver) -> None:
    hook = await subscribe(account, receiver.url)
    other = Receiver().start()
    try:
        await subscribe(account, other.url)
        pinged = await account.client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=account.headers)
        assert pinged.status_code == 202, pinged.text
        await eventually(lambda: len(receiver.requests) == 1)
        ping = receiver.requests[0]
        assert ping.event["type"] == "webhook.ping" and ping.event["data"] == {"subscription_id": hook["id"]}
        assert ping.id == pinged.json()["data"]["event_id"]
        Webhook(hook["secret"]).verify(ping.body, ping.headers)
        await asyncio.sleep(0.5)
        assert other.requests == []  # the other subscription was not pinged
    finally:
        other.stop()
    event = await emit(runtime, account)
    await eventually(lambda: len(receiver.requests) == 2)
    [delivery] = [d for d in await settled(account, hook["id"], 2) if d["event_id"] == str(event.id)]
    path = f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver"
    again = await account.client.post(path, headers=account.headers)
    assert again.status_code == 202, again.text
    await eventually(lambda: len(receiver.requests) == 3)
    await settled(account, hook["id"], 2)
    first, repeat = receiver.requests[1], receiver.requests[2]
    assert repeat.id == first.id == str(event.id) and repeat.body == first.body
    problem(
        await account.client.post(
            f"/api/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/redeliver", headers=account.headers
        ),
        404,
    )
    [after] = [d for d in await deliveries(account, hook["id"]) if d["event_id"] == str(event.id)]
    assert [a["status_code"] for a in after["attempts"]] == [200, 200]


async def test_delivery_log_pages(account: Account, runtime: Runtime, receiver: Receiver) -> None:
    hook = await subscribe(account, receiver.url)
    for _ in range(5):
        await emit(runtime, account)
    await settled(account, hook["id"], 5)
    page = await account.client.get(
        f"/api/v1/webhooks/{hook['id']}/deliveries?per_page=2&page=3", headers=account.headers
    )
    body = page.json()
    assert body["meta"]["total"] == 5 and body["meta"]["total_pages"] == 3 and len(body["data"]) == 1


async def test_five_days_of_failure_disable_and_mail_the_admins(
    account: Account, runtime: Runtime, receiver: Receiver, settings: Settings
) -> None:
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], bytes]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
            return "250 OK"

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        receiver.status = 503
        hook = await subscribe(account, receiver.url)
        event = await emit(runtime, account)
        await eventually(lambda: len(receiver.requests) >= 1)
        # failing for five days: the next failure disables it. The delivery is leased to this test's engine so
        # that the suite's engine leaves it alone.
        lease = uuid.uuid4()
        async with runtime.transaction() as session:
            delivery = await session.scalar(
                select(WebhookDelivery).where(WebhookDelivery.event_id == event.id).with_for_update()
            )
            assert delivery is not None and delivery.status == "pending"
            delivery.lease, delivery.leased_until = lease, utcnow() + timedelta(minutes=5)
            claimed_attempts, body = delivery.attempts, delivery.body
        await asyncio.sleep(0.5)  # an attempt the suite's engine had in flight is recorded by now
        async with runtime.transaction() as session:
            await session.execute(
                update(WebhookSubscription)
                .where(WebhookSubscription.id == uuid.UUID(hook["id"]))
                .values(failing_since=utcnow() - timedelta(days=5, minutes=1))
            )
        assert body is not None
        from ats.delivery import Claimed

        engine = Engine(runtime.uow, dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        try:
            outcome = await engine.attempt(
                Claimed(
                    delivery.id,
                    account.id,
                    uuid.UUID(hook["id"]),
                    event.id,
                    body,
                    claimed_attempts,
                    lease,
                    receiver.url,
                    [hook["secret"]],
                )
            )
        finally:
            await engine.aclose()
        assert outcome.status_code == 503
        got = (await account.client.get(f"/api/v1/webhooks/{hook['id']}", headers=account.headers)).json()["data"]
        assert got["active"] is False and got["disabled_reason"] == "failing"
        assert [rcpt for rcpt, _ in inbox.messages] == [[account.admin_email]]
        assert hook["id"].encode() in inbox.messages[0][1]
    finally:
        controller.stop()


async def test_erasure_removes_payloads_and_logs_and_export_lists_recipients(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    from tests.integration.helpers import make_application

    job = await make_job(account)
    application = await make_application(account, job["id"])
    application_id = uuid.UUID(application["id"])
    hook = await subscribe(account, receiver.url)
    await emit(runtime, account, application_id=application_id, job_id=uuid.UUID(job["id"]))
    await eventually(lambda: len(receiver.requests) == 1)
    await settled(account, hook["id"], 1)
    exported = await account.client.get(f"/api/v1/applications/{application_id}/export", headers=account.headers)
    assert exported.status_code == 200, exported.text
    [sent] = exported.json()["webhook_deliveries"]
    assert sent["url"] == receiver.url and sent["event_type"] == "application.status_changed" and sent["delivered_at"]
    receiver.status = 500  # the next one stays pending, its body waiting in the database
    await emit(runtime, account, application_id=application_id, job_id=uuid.UUID(job["id"]), status="offer")
    await eventually(lambda: len(receiver.requests) >= 2)
    erased = await account.client.delete(
        f"/api/v1/applications/{application_id}?reason=candidate_request", headers=account.headers
    )
    assert erased.status_code == 200, erased.text
    receiver.status = 200
    tombstones = {"application.erased", "candidate.erased"}

    async def only_tombstones_left() -> bool:
        found = await deliveries(account, hook["id"])
        return {d["event_type"] for d in found} == tombstones and all(d["status"] == "delivered" for d in found)

    # the earlier deliveries went with the application (bodies and attempt logs); what is sent and kept about
    # it afterwards is the erasure's tombstones (§12): ids only
    await eventually(only_tombstones_left)
    async with runtime.transaction() as session:
        kept = (
            await session.execute(
                select(WebhookDelivery.event_type, WebhookDelivery.body).where(
                    WebhookDelivery.subscription_id == uuid.UUID(hook["id"])
                )
            )
        ).all()
        logs = await session.scalar(
            select(func.count())
            .select_from(WebhookAttempt)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(WebhookDelivery.subscription_id == uuid.UUID(hook["id"]))
        )
    assert sorted(event_type for event_type, _ in kept) == sorted(tombstones)
    assert logs is not None and logs >= len(kept)  # the tombstones' own attempts: the earlier logs went
    for _, body in kept:
        assert b"Ada Lovelace" not in (body or b"") and b'"status"' not in (body or b"")


async def test_a_delivery_whose_process_died_is_sent_again_with_the_same_id(
    account: Account, runtime: Runtime, receiver: Receiver
) -> None:
    """A lease that runs out (the process sending it died) frees the delivery: at least once, same webhook-id."""
    hook = await subscribe(account, receiver.url)
    event = await emit(runtime, account)
    await eventually(lambda: len(receiver.requests) >= 1)
    [delivery] = await deliveries(account, hook["id"])
    # replay the crash: the delivery is put back as a claimed one whose lease has run out
    async with runtime.transaction() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(delivery["id"]))
            .values(
                status="pending",
                next_attempt_at=utcnow() - timedelta(seconds=40),
                lease=uuid.uuid4(),
                leased_until=utcnow() - timedelta(seconds=1),
            )
        )
    await eventually(lambda: len(receiver.requests) >= 2)
    assert [r.id for r in receiver.requests] == [str(event.id)] * 2
    assert receiver.requests[0].body == receiver.requests[1].body


async def test_logs_older_than_30_days_are_pruned(
    account: Account, runtime: Runtime, receiver: Receiver, settings: Settings
) -> None:
    hook = await subscribe(account, receiver.url)
    old, recent = await emit(runtime, account), await emit(runtime, account)

    async def both_delivered() -> bool:
        return [d["status"] for d in await deliveries(account, hook["id"])] == ["delivered"] * 2

    await eventually(both_delivered)
    async with runtime.transaction() as session:
        delivery = await session.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == old.id))
        assert delivery is not None
        long_ago = utcnow() - timedelta(days=31)
        await session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(created_at=long_ago)
        )
        await session.execute(
            update(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).values(attempted_at=long_ago)
        )
    engine = Engine(runtime.uow, settings)
    try:
        assert await engine.prune() >= 2
    finally:
        await engine.aclose()
    log = await deliveries(account, hook["id"])
    assert [d["event_id"] for d in log] == [str(recent.id)] and len(log[0]["attempts"]) == 1

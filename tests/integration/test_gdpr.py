"""§8 export, erasure, retention and §9 audit completeness, against real PostgreSQL, S3 and SMTP."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from ats.storage.embedded import free_port
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text, update

from ats.db import Base
from ats.models import Application, Document, Note, Rating, StatusChange
from ats.runtime import Runtime
from ats.services.exports import NOT_EXPORTED
from ats.settings import Settings
from ats.vocabulary import ERASURE_REASONS
from tests.conftest import Account, problem
from tests.integration.helpers import make_application, make_job, move
from tests.integration.test_public_apply import apply_body, complete, post_apply, upload
from tests.samples import DOCX, PDF, PNG


async def _full_application(account: Account, client: AsyncTestClient[Litestar], marker: str = "") -> dict[str, Any]:
    """An application with history, notes (internal and not), a rating and two uploaded documents."""
    job = await make_job(account)
    app = await make_application(account, job["id"], name=f"Ada {marker}", email=f"ada{marker}@example.com")
    base = f"/api/v1/applications/{app['id']}"
    await move(client, account.headers, app["id"], "interview", note=f"int {marker}", reason=f"why {marker}")
    await client.post(f"{base}/notes", json={"content": f"shared {marker}", "internal": False}, headers=account.headers)
    await client.put(f"{base}/rating", json={"rating": 4, "criteria": {"skills": 5}}, headers=account.headers)
    for name, content in ((f"CV {marker}.pdf", PDF), ("../../etc/passwd.docx", DOCX)):
        response = await client.post(f"{base}/documents", files={"file": (name, content)}, headers=account.headers)
        assert response.status_code == 201, response.text
    view: dict[str, Any] = (await client.get(base, headers=account.headers)).json()["data"]
    return view


async def test_json_export_holds_every_stored_field(account: Account, client: AsyncTestClient[Litestar]) -> None:
    app = await _full_application(account, client)
    url = f"/api/v1/applications/{app['id']}/export"
    response = await client.get(url, headers=account.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    data = response.json()
    # walk the models: a new column cannot be left out silently
    assert set(data["application"]) == {c.key for c in Application.__table__.columns}
    for key, model in (
        ("status_history", StatusChange),
        ("ratings", Rating),
        ("notes", Note),
        ("documents", Document),
    ):
        columns = {c.key for c in model.__table__.columns} - NOT_EXPORTED[model.__tablename__]
        for entry in data[key]:
            assert columns <= set(entry), (key, columns - set(entry))
    assert data["application"]["email"] == app["candidate"]["email"]
    assert [h["status"] for h in data["status_history"]] == ["new", "interview"]
    assert [n["internal"] for n in data["notes"]] == [False]  # internal notes need include_internal
    assert len(data["documents"]) == 2 and len(data["ratings"]) == 1
    assert "storage_key" not in response.text and str(account.id) + "/" not in response.text
    internal = (await client.get(f"{url}?include_internal=true", headers=account.headers)).json()
    assert sorted(n["internal"] for n in internal["notes"]) == [False, True]


async def test_pdf_and_zip_exports(account: Account, client: AsyncTestClient[Litestar]) -> None:
    app = await _full_application(account, client)
    url = f"/api/v1/applications/{app['id']}/export"
    pdf = await client.get(f"{url}?format=pdf", headers=account.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    archive = await client.get(f"{url}?format=zip", headers=account.headers)
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        names = sorted(z.namelist())
        assert names == ["data.json", "documents/CV.pdf", "documents/etc_passwd.docx", "report.pdf"]
        assert z.read("documents/CV.pdf") == PDF and z.read("documents/etc_passwd.docx") == DOCX
        assert json.loads(z.read("data.json"))["application"]["id"] == app["id"]
        assert z.read("report.pdf").startswith(b"%PDF-")


async def test_export_rules(account: Account, other_account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    url = f"/api/v1/applications/{app['id']}/export"
    _, recruiter = await account.user("recruiter")
    _, compliance = await account.user("compliance")
    problem(await client.get(url, headers=recruiter), 403, "forbidden")
    assert (await client.get(url, headers=compliance)).status_code == 200
    problem(await client.get(url, headers=other_account.headers), 404)
    problem(await client.get(f"{url}?format=xml", headers=account.headers), 422)
    problem(await client.get(f"/api/v1/applications/{uuid.uuid4()}/export", headers=account.headers), 404)
    events = (await client.get("/api/v1/audit-events?action=application.exported", headers=account.headers)).json()
    assert events["meta"]["total"] == 1 and events["data"][0]["data"]["format"] == "json"


async def _table_dump(runtime: Runtime) -> str:
    """Every row of every table, as text."""
    async with runtime.transaction() as session:
        parts = []
        for table in Base.metadata.sorted_tables:
            value = await session.scalar(text(f"SELECT string_agg(t::text, ' ') FROM {table.name} t"))
            parts.append(value or "")
    return "\n".join(parts)


async def test_erasure_removes_every_row_and_object(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    marker = uuid.uuid4().hex[:10]
    app = await _full_application(account, client, marker)
    _, compliance = await account.user("compliance")
    _, recruiter = await account.user("recruiter")
    url = f"/api/v1/applications/{app['id']}"
    problem(await client.delete(f"{url}?reason=candidate_request", headers=recruiter), 403)
    prefix = f"{account.id}/{app['id']}/"
    # one object already missing must not stop the erasure
    async with runtime.transaction() as session:
        keys = list(
            await session.scalars(select(Document.storage_key).where(Document.application_id == uuid.UUID(app["id"])))
        )
    runtime.documents.delete(keys[0])
    response = await client.delete(f"{url}?reason=consent_withdrawn", headers=compliance)
    assert response.status_code == 200, response.text
    receipt = response.json()["data"]
    assert receipt["application_id"] == app["id"]
    assert receipt["counts"] == {"documents": 2, "objects": 1, "notes": 2, "ratings": 1, "history": 2}
    assert receipt["storage"] == "erased" and receipt["erased_at"]
    assert marker not in await _table_dump(runtime)
    assert (
        list(
            runtime.documents.client.list_objects_v2(Bucket=runtime.settings.s3_bucket, Prefix=prefix).get(
                "Contents", []
            )
        )
        == []
    )
    problem(await client.delete(f"{url}?reason=duplicate", headers=compliance), 404)
    problem(await client.get(url, headers=account.headers), 404)
    events = (
        await client.get(
            f"/api/v1/audit-events?application_id={app['id']}&action=application.erased", headers=account.headers
        )
    ).json()
    assert events["data"][0]["id"] == receipt["audit_event_id"]
    assert events["data"][0]["data"]["reason"] == "consent_withdrawn"
    assert (await client.get("/api/v1/audit-events/verify", headers=account.headers)).json()["data"]["ok"] is True


async def test_legal_hold_blocks_erasure(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    url = f"/api/v1/applications/{app['id']}"
    await client.patch(url, json={"legal_hold": True}, headers=account.headers)
    problem(await client.delete(url, headers=account.headers), 409, "legal_hold")
    assert (await client.get(url, headers=account.headers)).status_code == 200
    await client.patch(url, json={"legal_hold": False}, headers=account.headers)
    assert (await client.delete(url, headers=account.headers)).status_code == 200


async def test_erasure_reasons_are_codes(account: Account, client: AsyncTestClient[Litestar]) -> None:
    """§8: the reason is a code of one list (the OpenAPI enum is that list); free text is a 422 and audits nothing."""
    job = await make_job(account)
    app = await make_application(account, job["id"])
    url = f"/api/v1/applications/{app['id']}"
    for sent in ("asked by ada@example.com", "Candidate_Request", "", "erasure_request"):
        body = problem(await client.delete(url, params={"reason": sent}, headers=account.headers), 422)
        assert body["code"] == "validation_failed" and [e["pointer"] for e in body["errors"]] == ["reason"]
        assert body["allowed"] == list(ERASURE_REASONS) and "ada@" not in json.dumps(body)
    assert (await client.get(url, headers=account.headers)).status_code == 200  # nothing erased
    audit = (await client.get("/api/v1/audit-events?action=application.erased", headers=account.headers)).json()
    assert audit["meta"]["total"] == 0
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/v1/applications/{application_id}"]["delete"]
    [reason] = [p for p in operation["parameters"] if p["name"] == "reason"]
    assert reason["schema"]["enum"] == list(ERASURE_REASONS)
    erased = []
    for code in ERASURE_REASONS:
        other = await make_application(account, job["id"])
        response = await client.delete(f"/api/v1/applications/{other['id']}?reason={code}", headers=account.headers)
        assert response.status_code == 200, response.text
        erased.append(response.json()["data"]["audit_event_id"])
    assert (await client.delete(url, headers=account.headers)).status_code == 200  # no reason given: the default
    events = (await client.get("/api/v1/audit-events?action=application.erased", headers=account.headers)).json()
    by_id = {e["id"]: e["data"]["reason"] for e in events["data"]}
    assert [by_id[event_id] for event_id in erased] == list(ERASURE_REASONS)
    assert set(by_id.values()) == set(ERASURE_REASONS)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_notify_emails_the_applicant_first(
    account: Account, runtime: Runtime, client: AsyncTestClient[Litestar], smtp: tuple[Inbox, int], settings: Settings
) -> None:
    inbox, port = smtp
    job = await make_job(account)
    app = await make_application(account, job["id"], email="notify-me@example.com", name="Nora Notify")
    original = runtime.settings
    try:
        runtime.settings = dataclasses.replace(original, smtp_url=f"smtp://127.0.0.1:{port}")
        ok = await client.delete(f"/api/v1/applications/{app['id']}?notify=true", headers=account.headers)
        assert ok.status_code == 200, ok.text
        assert len(inbox.messages) == 1
        recipients, content = inbox.messages[0]
        assert recipients == ["notify-me@example.com"] and b"Nora Notify" in content
        # mail server down: nothing is erased, and the answer is a 503
        second = await make_application(account, job["id"])
        runtime.settings = dataclasses.replace(original, smtp_url=f"smtp://127.0.0.1:{free_port()}")
        down = await client.delete(f"/api/v1/applications/{second['id']}?notify=true", headers=account.headers)
        problem(down, 503)
        assert (await client.get(f"/api/v1/applications/{second['id']}", headers=account.headers)).status_code == 200
    finally:
        runtime.settings = original


async def test_retention(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    job = await make_job(account)
    apps = {name: await make_application(account, job["id"], name=name) for name in
            ("old_rejected", "old_withdrawn", "recent_rejected", "old_open", "talent_pool", "expired_pool", "held")}  # fmt: skip
    for name in ("old_rejected", "recent_rejected", "talent_pool", "expired_pool", "held"):
        await move(client, account.headers, apps[name]["id"], "rejected")
    await move(client, account.headers, apps["old_withdrawn"]["id"], "withdrawn")
    await client.patch(f"/api/v1/applications/{apps['held']['id']}", json={"legal_hold": True}, headers=account.headers)
    days = runtime.settings.retention_days
    async with runtime.transaction() as session:
        old = [
            uuid.UUID(apps[n]["id"])
            for n in ("old_rejected", "old_withdrawn", "old_open", "talent_pool", "expired_pool", "held")
        ]
        await session.execute(
            update(Application)
            .where(Application.id.in_(old))
            .values(status_changed_at=Application.status_changed_at - timedelta(days=days + 1))
        )
        await session.execute(
            update(Application)
            .where(Application.id == uuid.UUID(apps["talent_pool"]["id"]))
            .values(consent_talent_pool=True, consented_at=Application.created_at)
        )
        await session.execute(
            update(Application)
            .where(Application.id == uuid.UUID(apps["expired_pool"]["id"]))
            .values(
                consent_talent_pool=True,
                consented_at=Application.created_at - timedelta(days=runtime.settings.talent_pool_days + 1),
            )
        )
    expected = {apps[n]["id"] for n in ("old_rejected", "old_withdrawn", "expired_pool")}
    _, recruiter = await account.user("recruiter")
    problem(await client.post("/api/v1/retention/run?dry_run=true", headers=recruiter), 403)
    dry = (await client.post("/api/v1/retention/run?dry_run=true", headers=account.headers)).json()["data"]
    assert dry["dry_run"] is True and set(dry["erased"]) == expected and dry["count"] == 3 and dry["held"] == 2
    assert (await client.get("/api/v1/applications", headers=account.headers)).json()["meta"]["total"] == 7
    real = (await client.post("/api/v1/retention/run", headers=account.headers)).json()["data"]
    assert set(real["erased"]) == expected and real["storage_pending"] == 0
    left = {
        a["id"] for a in (await client.get("/api/v1/applications?per_page=100", headers=account.headers)).json()["data"]
    }
    assert left == {apps[n]["id"] for n in ("recent_rejected", "old_open", "talent_pool", "held")}
    erased_events = (await client.get("/api/v1/audit-events?action=application.erased", headers=account.headers)).json()
    assert {e["data"]["reason"] for e in erased_events["data"]} == {"retention"} and erased_events["meta"]["total"] == 3
    runs = (await client.get("/api/v1/audit-events?action=retention.run", headers=account.headers)).json()
    assert [e["data"] for e in runs["data"]] == [{"dry_run": False, "erased": 3}, {"dry_run": True, "erased": 3}]


async def test_no_personal_data_in_audit_log_or_logs(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    """A unique marker in every personal field; every action; the marker is nowhere it must not be."""
    marker = "Zq" + uuid.uuid4().hex[:12]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record) + " " + json.dumps(getattr(record, "fields", {})))

    handler = Collect()
    logging.getLogger("ats").addHandler(handler)
    try:
        job = await make_job(account, application_questions=[{"key": "q", "label": "Q", "type": "text"}])
        body = apply_body(
            job["id"],
            name=f"{marker} Name",
            email=f"{marker}@example.com",
            phone=f"+1 {marker}",
            cover_letter=f"letter {marker}",
            source="web",
            custom_fields={"q": f"answer {marker}"},
            documents=[{"extension": "pdf", "name": f"cv {marker}"}],
        )
        applied = await post_apply(client, body, **{"Idempotency-Key": f"key-{marker}"})
        assert applied.status_code == 201
        app_id = applied.json()["data"]["id"]
        document = applied.json()["included"][0]
        await upload(document["meta"]["upload"], PDF)
        assert (await complete(client, document["id"], document["meta"]["upload"]["upload_token"])).status_code == 200
        base = f"/api/v1/applications/{app_id}"
        await client.get(f"/api/v1/applications?search={marker}", headers=account.headers)
        await move(client, account.headers, app_id, "screening", note=f"note {marker}", reason=f"reason {marker}")
        note = (await client.post(f"{base}/notes", json={"content": f"n {marker}"}, headers=account.headers)).json()[
            "data"
        ]
        await client.patch(f"{base}/notes/{note['id']}", json={"content": f"m {marker}"}, headers=account.headers)
        await client.put(f"{base}/rating", json={"rating": 2}, headers=account.headers)
        await client.post(f"{base}/documents", files={"file": (f"{marker}.png", PNG)}, headers=account.headers)
        view = (await client.get(base, headers=account.headers)).json()["data"]
        await client.get(view["documents"][0]["url"], headers=account.headers)
        for fmt in ("json", "pdf", "zip"):
            assert (await client.get(f"{base}/export?format={fmt}", headers=account.headers)).status_code == 200
        assert marker in await _table_dump(runtime)  # the data was really there
        async with runtime.transaction() as session:
            audit_text = await session.scalar(
                text("SELECT string_agg(a::text, ' ') FROM audit_events a WHERE account_id = :a"), {"a": account.id}
            )
        assert marker not in audit_text
        erased = await client.delete(f"{base}?reason=candidate_request", headers=account.headers)
        assert erased.status_code == 200
        assert marker not in await _table_dump(runtime)
        listing = runtime.documents.client.list_objects_v2(
            Bucket=runtime.settings.s3_bucket, Prefix=f"{account.id}/{app_id}/"
        )
        assert listing.get("KeyCount", 0) == 0
    finally:
        logging.getLogger("ats").removeHandler(handler)
    assert records, "the request log was captured"
    assert not [r for r in records if marker in r]


async def test_concurrent_erasures_of_one_application(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    url = f"/api/v1/applications/{app['id']}"
    responses = await asyncio.gather(*(client.delete(url, headers=account.headers) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 404, 404]


async def test_another_accounts_application_cannot_be_erased_or_swept(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(other_account)
    theirs = await make_application(other_account, job["id"])
    await move(client, other_account.headers, theirs["id"], "rejected")
    async with runtime.transaction() as session:
        await session.execute(
            update(Application)
            .where(Application.id == uuid.UUID(theirs["id"]))
            .values(
                status_changed_at=Application.status_changed_at - timedelta(days=runtime.settings.retention_days + 1)
            )
        )
    problem(await client.delete(f"/api/v1/applications/{theirs['id']}", headers=account.headers), 404)
    mine = (await client.post("/api/v1/retention/run", headers=account.headers)).json()["data"]
    assert theirs["id"] not in mine["erased"]
    assert (await client.get(f"/api/v1/applications/{theirs['id']}", headers=other_account.headers)).status_code == 200
    _, compliance = await account.user("compliance")
    problem(await client.delete(f"/api/v1/applications/{theirs['id']}", headers=compliance), 404)

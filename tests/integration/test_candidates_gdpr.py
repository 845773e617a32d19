"""§13 GDPR per person: a candidate's whole export, erasure with one receipt, retention, erasure racing an apply."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from ats.models import Application, Candidate, Document
from ats.runtime import Runtime
from tests.conftest import Account, problem
from tests.integration.helpers import make_application, make_job, move
from tests.integration.test_candidates import candidate_of
from tests.integration.test_public_apply import apply_body, post_apply
from tests.samples import PDF


async def upload_cv(client: AsyncTestClient[Litestar], account: Account, application_id: str, name: str) -> str:
    files = {"file": (name, PDF, "application/pdf")}
    response = await client.post(
        f"/api/v1/applications/{application_id}/documents", files=files, data={"type": "cv"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def objects_under(runtime: Runtime, prefix: str) -> int:
    listing = runtime.documents.client.list_objects_v2(Bucket=runtime.settings.s3_bucket, Prefix=prefix)
    return int(listing.get("KeyCount", 0))


async def person_with_two_applications(
    client: AsyncTestClient[Litestar], account: Account
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    email = f"lin-{uuid.uuid4().hex[:6]}@example.com"
    first = await make_application(account, (await make_job(account))["id"], name="Lin Wei 王", email=email)
    second = await make_application(account, (await make_job(account, title="Analyst"))["id"], email=email.upper())
    await upload_cv(client, account, first["id"], "cv.pdf")
    await upload_cv(client, account, second["id"], "cv.pdf")
    await client.post(
        f"/api/v1/applications/{first['id']}/notes", json={"content": "internal"}, headers=account.headers
    )
    person = await candidate_of(client, account, first["id"])
    return person, [first, second]


async def test_a_person_export_holds_every_application(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    person, (first, second) = await person_with_two_applications(client, account)
    path = f"/api/v1/candidates/{person['id']}/export"
    _, compliance = await account.user("compliance")
    _, recruiter = await account.user("recruiter")
    exported = await client.get(path, headers=compliance)
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["candidate"]["id"] == person["id"] and body["candidate"]["emails"] == person["emails"]
    assert [a["application"]["id"] for a in body["applications"]] == [first["id"], second["id"]]
    assert [len(a["documents"]) for a in body["applications"]] == [1, 1]
    assert body["applications"][0]["notes"] == []  # internal notes only on request
    internal = (await client.get(f"{path}?include_internal=true", headers=compliance)).json()
    assert [n["content"] for n in internal["applications"][0]["notes"]] == ["internal"]
    pdf = await client.get(f"{path}?format=pdf", headers=compliance)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    zipped = await client.get(f"{path}?format=zip", headers=compliance)
    assert zipped.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    assert sorted(archive.namelist()) == ["data.json", "documents/1/cv.pdf", "documents/2/cv.pdf", "report.pdf"]
    assert archive.read("documents/2/cv.pdf") == PDF
    assert len(json.loads(archive.read("data.json"))["applications"]) == 2
    problem(await client.get(path, headers=recruiter), 403, "forbidden")
    problem(await client.get(path, headers=other_account.headers), 404, "not_found")
    problem(await client.get(f"{path}?format=xml", headers=compliance), 422)
    events = (await client.get("/api/v1/audit-events?action=candidate.exported", headers=compliance)).json()
    assert events["meta"]["total"] == 4
    assert all(set(e["data"]) == {"format", "include_internal", "applications", "documents"} for e in events["data"])


async def test_an_export_of_20_applications_and_200_documents_is_streamed(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    email = f"many-{uuid.uuid4().hex[:6]}@example.com"
    job_ids = [(await make_job(account, title=f"Job {i}"))["id"] for i in range(20)]
    apps = [await make_application(account, job_id, email=email) for job_id in job_ids]
    person = await candidate_of(client, account, apps[0]["id"])
    blob = PDF + b"\n" * 20_000
    keys = []
    async with runtime.transaction() as session:
        for app in apps:
            for i in range(10):
                doc_id = uuid.uuid4()
                key = f"{account.id}/{app['id']}/{doc_id}"
                keys.append(key)
                session.add(
                    Document(
                        id=doc_id,
                        account_id=account.id,
                        application_id=uuid.UUID(app["id"]),
                        type="certificate",
                        name=f"Certificate {i}",
                        extension="pdf",
                        filename=f"certificate-{i}.pdf",
                        mime_type="application/pdf",
                        size=len(blob),
                        upload_status="uploaded",
                        storage_key=key,
                        created_at=datetime.now(UTC),
                        uploaded_at=datetime.now(UTC),
                    )
                )

    def put_all() -> None:
        for key in keys:
            runtime.documents.client.put_object(Bucket=runtime.settings.s3_bucket, Key=key, Body=blob)

    await anyio.to_thread.run_sync(put_all)
    size = 0
    buffer = io.BytesIO()
    async with client.stream(
        "GET", f"/api/v1/candidates/{person['id']}/export?format=zip", headers=account.headers
    ) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # streamed, never assembled first
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            buffer.write(chunk)
    archive = zipfile.ZipFile(buffer)
    documents = [n for n in archive.namelist() if n.startswith("documents/")]
    assert len(documents) == 200 and len(set(documents)) == 200
    assert archive.read(documents[-1]) == blob
    assert len(json.loads(archive.read("data.json"))["applications"]) == 20
    assert size > 200 * len(blob)


async def test_erasing_a_person_erases_every_application_with_one_receipt(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account, runtime: Runtime
) -> None:
    person, (first, second) = await person_with_two_applications(client, account)
    path = f"/api/v1/candidates/{person['id']}"
    _, recruiter = await account.user("recruiter")
    problem(await client.delete(f"{path}?reason=because", headers=account.headers), 422)
    problem(await client.delete(f"{path}?reason=candidate_request", headers=recruiter), 403)
    problem(await client.delete(f"{path}?reason=candidate_request", headers=other_account.headers), 404)
    # A legal hold on one application refuses the whole erasure and names it.
    held = await client.patch(
        f"/api/v1/applications/{second['id']}", json={"legal_hold": True}, headers=account.headers
    )
    assert held.status_code == 200
    refused = problem(
        await client.delete(f"{path}?reason=candidate_request", headers=account.headers), 409, "legal_hold"
    )
    assert refused["applications"] == [second["id"]]
    assert (await client.get(f"/api/v1/applications/{first['id']}", headers=account.headers)).status_code == 200
    await client.patch(f"/api/v1/applications/{second['id']}", json={"legal_hold": False}, headers=account.headers)

    erased = await client.delete(f"{path}?reason=candidate_request", headers=account.headers)
    assert erased.status_code == 200, erased.text
    receipt = erased.json()["data"]
    assert receipt["candidate_id"] == person["id"]
    assert receipt["applications"] == [first["id"], second["id"]]
    assert receipt["counts"] == {
        "applications": 2,
        "documents": 2,
        "objects": 2,
        "notes": 1,
        "ratings": 0,
        "history": 2,
    }
    assert receipt["storage"] == "erased"
    for app in (first, second):
        assert objects_under(runtime, f"{account.id}/{app['id']}/") == 0
        problem(await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers), 404)
    problem(await client.get(path, headers=account.headers), 404)
    problem(await client.delete(f"{path}?reason=candidate_request", headers=account.headers), 404)
    found = await client.get("/api/v1/data-subjects", params={"email": person["email"]}, headers=account.headers)
    assert found.json()["data"] == []
    events = (await client.get("/api/v1/audit-events?action=candidate.erased", headers=account.headers)).json()
    assert events["meta"]["total"] == 1
    assert events["data"][0]["data"] == {
        "reason": "candidate_request",
        "counts": {"applications": 2, "documents": 2, "notes": 1, "ratings": 0, "history": 2},
    }


async def test_the_last_application_erased_takes_the_person_with_it(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    email = f"ret-{uuid.uuid4().hex[:6]}@example.com"
    old = await make_application(account, (await make_job(account))["id"], email=email)
    open_one = await make_application(account, (await make_job(account))["id"], email=email)
    person = await candidate_of(client, account, old["id"])
    assert (await move(client, account.headers, old["id"], "rejected")).status_code == 200
    async with runtime.transaction() as session:
        await session.execute(
            update(Application)
            .where(Application.id == uuid.UUID(old["id"]))
            .values(
                status_changed_at=Application.status_changed_at - timedelta(days=runtime.settings.retention_days + 1)
            )
        )
    ran = (await client.post("/api/v1/retention/run", headers=account.headers)).json()["data"]
    assert ran["erased"] == [old["id"]]
    kept = (await client.get(f"/api/v1/candidates/{person['id']}", headers=account.headers)).json()["data"]
    assert [a["id"] for a in kept["applications"]] == [open_one["id"]]
    gone = await client.delete(f"/api/v1/applications/{open_one['id']}?reason=other", headers=account.headers)
    assert gone.status_code == 200
    problem(await client.get(f"/api/v1/candidates/{person['id']}", headers=account.headers), 404)


async def _after(delay: float, request: Awaitable[Any]) -> Any:
    await asyncio.sleep(delay)
    return await request


async def test_erasure_racing_an_apply_of_the_same_email_never_leaves_half_a_person(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    outcomes = set()
    for round_ in range(6):
        email = f"race-{round_}-{uuid.uuid4().hex[:6]}@example.com"
        first_job, second_job = await make_job(account), await make_job(account)
        applied = await post_apply(client, apply_body(first_job["id"], email=email))
        person = await candidate_of(client, account, applied.json()["data"]["id"])

        erasing = client.delete(f"/api/v1/candidates/{person['id']}?reason=candidate_request", headers=account.headers)
        applying = post_apply(client, apply_body(second_job["id"], email=email.upper()))
        # Odd rounds give the apply a head start of a few ms, even rounds the erasure: both orders happen.
        delay = 0.02 * (1 + round_ // 2)
        erased, again = await asyncio.gather(
            _after(delay if round_ % 2 else 0, erasing), _after(0 if round_ % 2 else delay, applying)
        )
        assert erased.status_code == 200, erased.text
        assert again.status_code == 201, again.text
        new_id = uuid.UUID(again.json()["data"]["id"])
        async with runtime.transaction() as session:
            people = list(
                await session.execute(
                    select(Candidate.id, func.count(Application.id))
                    .outerjoin(Application, Application.candidate_id == Candidate.id)
                    .where(Candidate.account_id == account.id, func.lower(Candidate.email) == email)
                    .group_by(Candidate.id)
                )
            )
            survivor = await session.scalar(select(Application.candidate_id).where(Application.id == new_id))
        assert str(person["id"]) not in {str(p[0]) for p in people}  # the erased person is gone, whole
        if survivor is None:
            # The apply landed first: it was erased with the person.
            assert uuid.UUID(again.json()["data"]["id"]) in [
                uuid.UUID(a) for a in erased.json()["data"]["applications"]
            ]
            assert people == []
            outcomes.add("before")
        else:
            # The apply landed after: a fresh person with only that application.
            assert people == [(survivor, 1)]
            outcomes.add("after")
    assert outcomes  # at least one order was seen; both are legal

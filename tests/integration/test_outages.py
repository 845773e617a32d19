"""S3 stopped under a running app: 503 in the contract's shape, and nothing half-written."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ats.api.public_apply import STORAGE_CHECK_MAX_AGE
from ats.storage import Documents, make_client
from ats.storage.embedded import EmbeddedS3
from litestar import Litestar
from litestar.events import listener
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from ats import ATSConfig, ATSPlugin
from ats.embedded import wait_for
from ats.models import Application, Document, PendingDeletion
from ats.runtime import Runtime
from ats.services import erasure
from ats.settings import Settings
from tests.conftest import Account, new_account, problem
from tests.integration.helpers import make_application, make_job
from tests.integration.test_public_apply import HEADERS, apply_body, errors_of, post_apply
from tests.samples import PDF

RECEIVED: list[tuple[str, dict[str, object]]] = []


@listener("application.created", "document.uploaded")
async def remember(**payload: object) -> None:
    RECEIVED.append((str(payload.get("event", "")), payload))


@pytest.fixture
async def throwaway_s3(settings: Settings) -> AsyncIterator[tuple[Settings, EmbeddedS3]]:
    """A SeaweedFS of this test's own, so that stopping it disturbs nothing else."""
    s3 = EmbeddedS3(Path(tempfile.mkdtemp(prefix="ats-s3down-")))
    s3.start()
    own = dataclasses.replace(
        settings,
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key_id=s3.access_key_id,
        s3_secret_access_key=s3.secret_access_key,
        s3_timeout=2,
    )
    store = Documents(
        make_client(own.s3_endpoint_url, own.s3_access_key_id, own.s3_secret_access_key, own.s3_region, 2),
        own.s3_bucket,
    )
    wait_for(store.ensure_bucket, timeout=90)
    wait_for(lambda: store.client.put_object(Bucket=own.s3_bucket, Key="probe", Body=b"x"), timeout=90)
    try:
        yield own, s3
    finally:
        s3.stop(kill=True)


async def _counts(runtime: Runtime, account: Account) -> tuple[int, int]:
    async with runtime.transaction() as session:
        apps = await session.scalar(select(func.count()).where(Application.account_id == account.id))
        docs = await session.scalar(select(func.count()).where(Document.account_id == account.id))
    return int(apps or 0), int(docs or 0)


async def test_s3_down_means_503_and_no_rows(throwaway_s3: tuple[Settings, EmbeddedS3]) -> None:
    own, s3 = throwaway_s3
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=own, background_jobs=False))], listeners=[remember])
    async with AsyncTestClient(app=app) as client:
        runtime: Runtime = app.state["ats_runtime"]
        account = await new_account(client, runtime)
        job = await make_job(account)
        created = await post_apply(client, apply_body(job["id"]))
        assert created.status_code == 201
        assert any(p.get("application_id") == uuid.UUID(created.json()["data"]["id"]) for _, p in RECEIVED)
        existing = await make_application(account, job["id"])
        before = await _counts(runtime, account)

        s3.stop(kill=True)
        await asyncio.sleep(STORAGE_CHECK_MAX_AGE + 0.2)  # the last "S3 is up" answer has expired

        down = await post_apply(client, apply_body(job["id"]))
        assert errors_of(down, 503)[0]["code"] == "service_unavailable"
        assert "retry-after" in down.headers
        upload = await client.post(
            f"/api/v1/applications/{existing['id']}/documents",
            files={"file": ("cv.pdf", PDF)},
            headers=account.headers,
        )
        problem(upload, 503, "service_unavailable")
        ready = await client.get("/health/ready")
        problem(ready, 503)
        assert "storage" in ready.json()["detail"]
        assert await _counts(runtime, account) == before
        # without documents an application needs no storage
        assert (await post_apply(client, apply_body(job["id"], documents=[]))).status_code == 201


async def test_complete_and_download_with_s3_down(throwaway_s3: tuple[Settings, EmbeddedS3]) -> None:
    own, s3 = throwaway_s3
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=own, background_jobs=False))])
    async with AsyncTestClient(app=app) as client:
        runtime: Runtime = app.state["ats_runtime"]
        account = await new_account(client, runtime)
        job = await make_job(account)
        application = await make_application(account, job["id"])
        url = f"/api/v1/applications/{application['id']}/documents"
        created = (await client.post(url, files={"file": ("cv.pdf", PDF)}, headers=account.headers)).json()["data"]
        document_url = created["url"]
        pending = (await post_apply(client, apply_body(job["id"]))).json()["included"][0]

        s3.stop(kill=True)

        problem(await client.get(document_url, headers=account.headers), 503)
        export = f"/api/v1/applications/{application['id']}/export"
        problem(await client.get(f"{export}?format=zip", headers=account.headers), 503)
        assert (await client.get(export, headers=account.headers)).status_code == 200  # JSON needs no S3
        problem(await client.delete(document_url, headers=account.headers), 503)
        completion = await client.post(
            f"/public/v1/applicant_documents/{pending['id']}/complete",
            json={
                "data": {
                    "type": "applicant_document",
                    "id": pending["id"],
                    "attributes": {"upload_token": pending["meta"]["upload"]["upload_token"]},
                }
            },
            headers=HEADERS,
        )
        errors_of(completion, 503)
        # the failed delete left the document in place
        view = (await client.get(f"/api/v1/applications/{application['id']}", headers=account.headers)).json()
        assert [d["upload_status"] for d in view["data"]["documents"]] == ["uploaded"]


async def test_erasure_with_s3_down_is_finished_when_it_is_back(throwaway_s3: tuple[Settings, EmbeddedS3]) -> None:
    """S3 stopped mid-erasure: rows go, a durable pending deletion stays, and S3 back finishes the job."""
    own, s3 = throwaway_s3
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=own, background_jobs=False))])
    async with AsyncTestClient(app=app) as client:
        runtime: Runtime = app.state["ats_runtime"]
        account = await new_account(client, runtime)
        job = await make_job(account)
        application = await make_application(account, job["id"])
        url = f"/api/v1/applications/{application['id']}"
        for name in ("a.pdf", "b.pdf"):
            response = await client.post(f"{url}/documents", files={"file": (name, PDF)}, headers=account.headers)
            assert response.status_code == 201

        s3.stop(kill=True)

        erased = await client.delete(url, headers=account.headers)
        assert erased.status_code == 200, erased.text
        receipt = erased.json()["data"]
        assert receipt["storage"] == "pending"
        assert receipt["counts"]["documents"] == 2 and receipt["counts"]["objects"] == 0
        problem(await client.get(url, headers=account.headers), 404)
        async with runtime.transaction() as session:
            assert await erasure.pending_count(session, account.id) == 1
        # still down: the next round fails again and keeps the record
        async with runtime.transaction() as session:
            await session.execute(
                update(PendingDeletion)
                .where(PendingDeletion.account_id == account.id)
                .values(next_attempt_at=func.now())
            )
        assert (
            await erasure.process_pending(
                runtime.uow, runtime.documents, upload_url_ttl=own.upload_url_ttl, account_id=account.id
            )
            is None
        )

        s3.start()
        wait_for(lambda: runtime.documents.client.put_object(Bucket=own.s3_bucket, Key="probe", Body=b"x"), 90)
        async with runtime.transaction() as session:
            await session.execute(
                update(PendingDeletion)
                .where(PendingDeletion.account_id == account.id)
                .values(next_attempt_at=func.now())
            )
        assert (
            await erasure.process_pending(
                runtime.uow, runtime.documents, upload_url_ttl=own.upload_url_ttl, account_id=account.id
            )
            == 2
        )
        prefix = f"{account.id}/{application['id']}/"
        listing = runtime.documents.client.list_objects_v2(Bucket=own.s3_bucket, Prefix=prefix)
        assert listing.get("KeyCount", 0) == 0
        async with runtime.transaction() as session:
            assert await erasure.pending_count(session, account.id) == 0

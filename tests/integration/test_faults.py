"""No 500 under faults: PostgreSQL killed mid-request, a NUL in a filename, an upload racing an erasure, and
the request log and metrics recording the status actually sent."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ats.storage import StorageUnavailable
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from ats import ATSConfig, ATSPlugin, migrate
from ats.embedded import EmbeddedPostgres
from ats.errors import DomainError
from ats.models import Document
from ats.runtime import Runtime
from ats.services import notes
from ats.services.documents import application_prefix, sweep
from ats.settings import Settings
from tests.conftest import Account, new_account, problem
from tests.integration.helpers import assert_jsonapi, make_application, make_job
from tests.integration.test_public_apply import apply_body, complete, post_apply, upload
from tests.samples import PDF


@dataclasses.dataclass
class Throwaway:
    app: Litestar
    client: AsyncTestClient[Litestar]
    runtime: Runtime
    pg: EmbeddedPostgres


@pytest.fixture
async def throwaway_pg(settings: Settings) -> AsyncIterator[Throwaway]:
    """An app on a PostgreSQL of this test's own (the suite's S3), so that stopping it disturbs nothing else."""
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ats-faults-")), fast=True)
    pg.start()
    try:
        migrate.upgrade_and_grant(pg.app_url, pg.owner_url)
        own = dataclasses.replace(settings, database_url=pg.app_url)
        app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=own, background_jobs=False))])
        async with AsyncTestClient(app=app, timeout=60) as client:
            yield Throwaway(app, client, app.state["ats_runtime"], pg)
    finally:
        pg.stop()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def statuses(self, method: str, path: str) -> list[int]:
        found = [getattr(r, "fields", {}) for r in self.records]
        return [f["status"] for f in found if f.get("method") == method and f.get("path") == path]


@pytest.fixture
def request_log() -> Iterator[Records]:
    """The request log's records (the ``ats`` logger does not propagate: a handler of its own)."""
    handler = Records()
    logger = logging.getLogger("ats.request")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_postgres_killed_while_complete_waits_on_s3_is_503(
    throwaway_pg: Throwaway, monkeypatch: pytest.MonkeyPatch, request_log: Records
) -> None:
    env = throwaway_pg
    account = await new_account(env.client, env.runtime)
    job = await make_job(account)
    docs = []
    for _ in range(8):
        created = await post_apply(env.client, apply_body(job["id"]))
        assert created.status_code == 201, created.text
        doc = created.json()["included"][0]
        assert (await upload(doc["meta"]["upload"], PDF)).status_code in (200, 201, 204)
        docs.append(doc)

    head = env.runtime.documents.head
    stopping = threading.Lock()

    def stop_postgres_then_head(key: str) -> int:
        with stopping:
            env.pg.stop()  # PostgreSQL dies while the requests wait on S3
        return head(key)

    monkeypatch.setattr(env.runtime.documents, "head", stop_postgres_then_head)
    responses = await asyncio.gather(
        *(complete(env.client, doc["id"], doc["meta"]["upload"]["upload_token"]) for doc in docs)
    )
    assert not (env.pg.pgdata / "postmaster.pid").exists()
    for doc, response in zip(docs, responses, strict=True):
        body = assert_jsonapi(response, 503)
        assert body["errors"][0]["code"] == "service_unavailable"
        assert response.headers["content-type"].startswith("application/vnd.api+json")
        assert "Traceback" not in response.text and "SELECT" not in response.text
        path = f"/public/v1/applicant_documents/{doc['id']}/complete"
        assert request_log.statuses("POST", path) == [503]


async def test_log_and_metrics_record_the_503_sent_during_an_outage(
    throwaway_pg: Throwaway, request_log: Records
) -> None:
    env = throwaway_pg
    # Prometheus counters are process-wide: other tests' apps count on this route too, so compare before/after.
    before = _me_counts((await env.client.get("/metrics")).text)
    env.pg.stop()
    for _ in range(3):
        problem(await env.client.get("/api/v1/me", headers={"Authorization": "Bearer ats_at_x"}), 503)
    assert request_log.statuses("GET", "/api/v1/me") == [503, 503, 503]
    after = _me_counts((await env.client.get("/metrics")).text)
    grown = {status: after[status] - before.get(status, 0.0) for status in after}
    assert {status: n for status, n in grown.items() if n} == {"503": 3.0}, (before, after)


def _me_counts(metrics: str) -> dict[str, float]:
    """``GET /api/v1/me`` requests counted by ``/metrics``, by status code."""
    return {
        match.group("status"): float(match.group("value"))
        for match in re.finditer(
            r'^ats_requests_total\{(?=[^}]*path="/api/v1/me")(?=[^}]*method="GET")[^}]*status_code="(?P<status>\d+)"'
            r"[^}]*\} (?P<value>\S+)$",
            metrics,
            re.M,
        )
    }


async def test_401_from_the_auth_middleware_is_logged_as_401(
    client: AsyncTestClient[Litestar], request_log: Records
) -> None:
    problem(await client.get("/api/v1/me"), 401)
    problem(await client.get("/api/v1/me", headers={"Authorization": "Bearer ats_at_nonsense"}), 401)
    assert request_log.statuses("GET", "/api/v1/me") == [401, 401]


async def test_nul_in_an_upload_filename_is_422_with_a_pointer(account: Account, runtime: Runtime) -> None:
    job = await make_job(account)
    application = await make_application(account, job["id"])
    url = f"/api/v1/applications/{application['id']}/documents"
    # httpx would escape the NUL (%00): the multipart body is written by hand, as a hostile client would.
    boundary = "faultsboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cv\x00evil.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**account.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await account.client.post(url, content=body, headers=headers)
    problem_body = problem(response, 422)
    assert [e["pointer"] for e in problem_body["errors"]] == ["/file"]
    listed = await account.client.get(f"/api/v1/applications/{application['id']}", headers=account.headers)
    assert listed.status_code == 200 and listed.json()["data"]["documents"] == []
    prefix = application_prefix(account.id, uuid.UUID(application["id"]))
    found = runtime.documents.client.list_objects_v2(Bucket=runtime.documents.bucket, Prefix=prefix)
    assert found.get("KeyCount", 0) == 0


async def test_upload_racing_an_erasure_is_201_or_404_and_leaves_no_object(account: Account, runtime: Runtime) -> None:
    job = await make_job(account)
    seen: list[int] = []
    for _ in range(6):
        application = await make_application(account, job["id"])
        url = f"/api/v1/applications/{application['id']}"
        uploaded, erased = await asyncio.gather(
            account.client.post(f"{url}/documents", files={"file": ("cv.pdf", PDF)}, headers=account.headers),
            account.client.delete(f"{url}?reason=candidate_request", headers=account.headers),
        )
        assert erased.status_code == 200, erased.text
        if uploaded.status_code != 201:
            problem(uploaded, 404, "not_found")
        seen.append(uploaded.status_code)
        assert (await account.client.get(url, headers=account.headers)).status_code == 404
        prefix = application_prefix(account.id, uuid.UUID(application["id"]))
        found = runtime.documents.client.list_objects_v2(Bucket=runtime.documents.bucket, Prefix=prefix)
        assert found.get("KeyCount", 0) == 0, found.get("Contents")
    assert set(seen) <= {201, 404}


async def test_postgres_killed_while_a_download_in_the_request_transaction_waits_on_s3_is_503(
    throwaway_pg: Throwaway, monkeypatch: pytest.MonkeyPatch, request_log: Records
) -> None:
    """The handler's next query fails, then so does the request session's closing ROLLBACK: Litestar raises both
    from the dependency clean-up as an ExceptionGroup, which must still be the outage's 503."""
    env = throwaway_pg
    account = await new_account(env.client, env.runtime)
    job = await make_job(account)
    application = await make_application(account, job["id"])
    url = f"/api/v1/applications/{application['id']}/documents"
    uploaded = await env.client.post(url, files={"file": ("cv.pdf", PDF)}, headers=account.headers)
    assert uploaded.status_code == 201, uploaded.text
    path = f"{url}/{uploaded.json()['data']['id']}"
    iter_chunks = env.runtime.documents.iter_chunks

    def stop_postgres_then_read(key: str) -> Iterator[bytes]:
        env.pg.stop()
        return iter_chunks(key)

    monkeypatch.setattr(env.runtime.documents, "iter_chunks", stop_postgres_then_read)
    response = await env.client.get(path, headers=account.headers)
    problem(response, 503, "service_unavailable")
    assert "Traceback" not in response.text and "SELECT" not in response.text
    assert request_log.statuses("GET", path) == [503]


async def test_a_sealed_copy_left_by_a_failed_complete_is_swept(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 fails after ``complete`` copied the staged bytes, and again on the clean-up of that copy: 503, the row
    stays ``uploading``, and the sweep of abandoned uploads removes the copy with the row (found under load by
    ``test_fault_under_load``: the sweep deleted only the document's plain key, never a ``{key}.{suffix}`` copy)."""
    job = await make_job(account)
    created = (await post_apply(client, apply_body(job["id"]))).json()
    doc = created["included"][0]
    assert (await upload(doc["meta"]["upload"], PDF)).status_code in (200, 201, 204)
    store = runtime.documents
    prefix = application_prefix(account.id, uuid.UUID(created["data"]["id"]))

    def s3_gone(*_: object) -> int:
        raise StorageUnavailable("S3 went away")

    delete = store.delete

    def delete_staging_only(key: str) -> None:
        if "/staging/" not in key:
            raise StorageUnavailable("S3 went away")
        delete(key)

    with monkeypatch.context() as patch:
        patch.setattr(store, "head", s3_gone)
        patch.setattr(store, "delete", delete_staging_only)
        response = await complete(client, doc["id"], doc["meta"]["upload"]["upload_token"])
    assert assert_jsonapi(response, 503)["errors"][0]["code"] == "service_unavailable"
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    copies = [item["Key"] for item in listed.get("Contents", [])]
    assert len(copies) == 1 and copies[0].startswith(f"{prefix}{doc['id']}.")  # the sealed copy, nothing served

    async with runtime.transaction() as session:
        await session.execute(
            update(Document)
            .where(Document.id == uuid.UUID(doc["id"]))
            .values(created_at=Document.created_at - timedelta(seconds=runtime.settings.upload_ttl + 60))
        )
    swept = await sweep(runtime.uow, store, upload_ttl=runtime.settings.upload_ttl)
    assert swept.documents >= 1
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("KeyCount", 0) == 0
    async with runtime.transaction() as session:
        assert await session.get(Document, uuid.UUID(doc["id"])) is None


def _killed_mid_transaction(pg: EmbeddedPostgres) -> None:
    """SIGKILL the postmaster (a crash), then wait until its backends, which notice its death, are gone too."""
    pid = pg.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while any(_parent(stat) == pid for stat in Path("/proc").glob("[0-9]*/stat")):
        assert time.monotonic() < deadline, "the crashed postmaster's backends did not exit"
        time.sleep(0.05)


def _parent(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


async def test_postgres_killed_mid_transaction_of_a_note_is_503(
    throwaway_pg: Throwaway, monkeypatch: pytest.MonkeyPatch, request_log: Records
) -> None:
    """No S3 in the request: PostgreSQL crashes between the note's application lookup (row locked, transaction
    open) and its INSERT. The INSERT fails on the dead connection: 503 in problem+json, in the request log and in
    /metrics."""
    env = throwaway_pg
    account = await new_account(env.client, env.runtime)
    insert_note = notes.insert_note

    async def crash_then_insert(*args: Any, **kwargs: Any) -> Any:
        await asyncio.to_thread(_killed_mid_transaction, env.pg)
        return await insert_note(*args, **kwargs)

    monkeypatch.setattr(notes, "insert_note", crash_then_insert)
    await _note_during_a_crash(env, account, account.headers, request_log)


async def test_postgres_killed_before_a_refused_note_rolls_back_is_503(
    throwaway_pg: Throwaway, monkeypatch: pytest.MonkeyPatch, request_log: Records
) -> None:
    """The ExceptionGroup path without S3: a compliance user's note is refused (403) after the lookup, and
    PostgreSQL crashed in between. The session did not see the crash, so the request's closing ROLLBACK fails on the
    dead connection; Litestar raises it with the refusal from the dependency clean-up as an ExceptionGroup, which
    must be the outage's 503 (the refusal cannot be confirmed), logged and counted as such."""
    env = throwaway_pg
    account = await new_account(env.client, env.runtime)
    _, compliance = await account.user("compliance")
    lookup = notes.get_application_row

    async def lookup_crash_refuse(*args: Any, **kwargs: Any) -> Any:
        try:
            return await lookup(*args, **kwargs)
        except DomainError:
            await asyncio.to_thread(_killed_mid_transaction, env.pg)
            raise

    monkeypatch.setattr(notes, "get_application_row", lookup_crash_refuse)
    await _note_during_a_crash(env, account, compliance, request_log)


async def _note_during_a_crash(env: Throwaway, account: Account, headers: dict[str, str], request_log: Records) -> None:
    job = await make_job(account)
    application = await make_application(account, job["id"])
    path = f"/api/v1/applications/{application['id']}/notes"
    before = _note_counts((await env.client.get("/metrics")).text)
    response = await env.client.post(path, json={"content": "during the crash"}, headers=headers)
    problem(response, 503, "service_unavailable")
    assert "Traceback" not in response.text and "INSERT" not in response.text and "ROLLBACK" not in response.text
    assert request_log.statuses("POST", path) == [503]
    after = _note_counts((await env.client.get("/metrics")).text)
    grown = {status: after[status] - before.get(status, 0.0) for status in after}
    assert {status: n for status, n in grown.items() if n} == {"503": 1.0}, (before, after)


def _note_counts(metrics: str) -> dict[str, float]:
    """``POST …/notes`` requests counted by ``/metrics`` (labelled by route template), by status code."""
    counts: dict[str, float] = {}
    for match in re.finditer(r"^ats_requests_total\{(?P<labels>.*)\} (?P<value>\S+)$", metrics, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        if labels.get("method") == "POST" and re.fullmatch(r"/api/v1/applications/\{[^/]+\}/notes", labels["path"]):
            counts[labels["status_code"]] = float(match.group("value"))
    return counts

"""compose.yaml's topology without Docker: a one-shot migration as the owner, two API processes as the app role,
an S3 that comes up after them, and /metrics behind its token. Plus the migration's advisory lock."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ats.storage.embedded import EmbeddedS3, free_port
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from ats import migrate
from ats.embedded import APP_ROLE, OWNER_ROLE
from ats.runtime import Runtime
from ats.services import accounts
from ats.settings import Settings, load_settings
from tests.integration.helpers import assert_jsonapi
from tests.samples import PDF

JSONAPI = "application/vnd.api+json"
PASSWORD = "correct horse battery"
METRICS_TOKEN = "metrics-" + secrets.token_hex(16)


@pytest.fixture
def fresh_database(settings: Settings, superuser_url: str) -> Iterator[tuple[str, str]]:
    """A new, empty database owned by the owner role: (app URL, owner URL) as compose's postgres-init makes them."""
    name = f"ats_topo_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(superuser_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}'))
        conn.execute(text(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{name}" TO {APP_ROLE}'))
    assert settings.database_url and settings.database_owner_url
    app_url = make_url(settings.database_url).set(database=name).render_as_string(hide_password=False)
    owner_url = make_url(settings.database_owner_url).set(database=name).render_as_string(hide_password=False)
    yield app_url, owner_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
                return None
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


def test_concurrent_upgrades_serialize_on_the_advisory_lock(fresh_database: tuple[str, str]) -> None:
    app_url, owner_url = fresh_database
    # While someone holds the lock, an upgrade waits (and touches nothing).
    holder = create_engine(owner_url, poolclass=NullPool)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade_and_grant(app_url, owner_url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with holder.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrate.MIGRATION_LOCK_KEY})
        conn.commit()
        waiting = threading.Thread(target=run)
        waiting.start()
        time.sleep(2)
        assert waiting.is_alive()
        assert _revision(owner_url) is None
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.MIGRATION_LOCK_KEY})
        conn.commit()
        waiting.join(120)
    holder.dispose()
    assert not waiting.is_alive() and not errors, errors
    head = _revision(owner_url)
    assert head is not None

    # Two upgrades at once (two `migrate` containers): both succeed, in turn.
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert _revision(owner_url) == head


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ats.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


async def _wait_status(client: httpx.AsyncClient, path: str, status: int, within: float) -> float:
    """Seconds until ``path`` answers ``status``."""
    started = time.monotonic()
    while True:
        try:
            if (await client.get(path)).status_code == status:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < within, f"{client.base_url}{path} did not answer {status} in {within}s"
        await asyncio.sleep(0.5)


async def _apply_upload_complete(recruiter: httpx.AsyncClient, public: httpx.AsyncClient, s3_public: str) -> None:
    login = await recruiter.post("/api/v1/auth/token", json={"email": "admin@topology.example", "password": PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    job = await recruiter.post("/api/v1/jobs", json={"title": "Engineer", "status": "published"}, headers=headers)
    assert job.status_code == 201, job.text
    body = {
        "data": {
            "type": "applicant",
            "attributes": {
                "name": "John Doe",
                "email": f"john-{uuid.uuid4().hex[:8]}@example.com",
                "job_posting_id": job.json()["data"]["id"],
                "documents": [{"extension": "pdf", "name": "Resume"}],
                "consent": {"privacy_policy": True, "privacy_policy_version": "2025-01", "talent_pool": False},
            },
        }
    }
    jsonapi = {"Content-Type": JSONAPI, "Accept": JSONAPI}
    applied = await public.post("/public/v1/applicants?include=applicant_documents", json=body, headers=jsonapi)
    assert assert_jsonapi(applied, 201)
    document = applied.json()["included"][0]
    meta = document["meta"]["upload"]
    # The presigned URL names the public endpoint (localhost), not the one the servers use (127.0.0.1).
    assert meta["url"].startswith(s3_public), meta["url"]
    async with httpx.AsyncClient(timeout=30) as browser:
        uploaded = await browser.post(meta["url"], data=meta["fields"], files={"file": ("upload", PDF)})
    assert uploaded.status_code in (200, 201, 204), uploaded.text
    # completed on the other API than the one that took the application
    done = await recruiter.post(
        f"/public/v1/applicant_documents/{document['id']}/complete",
        json={
            "data": {
                "type": "applicant_document",
                "id": document["id"],
                "attributes": {"upload_token": meta["upload_token"]},
            }
        },
        headers=jsonapi,
    )
    assert assert_jsonapi(done, 200)["data"]["attributes"]["upload_status"] == "uploaded"


async def test_compose_topology_with_late_s3(fresh_database: tuple[str, str]) -> None:
    app_url, owner_url = fresh_database
    root = Path(tempfile.mkdtemp(prefix="ats-topology-"))
    s3 = EmbeddedS3(root / "s3")
    s3_port = int(s3.endpoint_url.rsplit(":", 1)[1])  # decided (and its keys generated) before it runs
    s3_public = f"http://localhost:{s3_port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATS_")}
    common = {
        **base,
        "ATS_DATABASE_URL": app_url,
        "ATS_S3_ENDPOINT_URL": s3.endpoint_url,
        "ATS_S3_PUBLIC_ENDPOINT_URL": s3_public,
        "ATS_S3_ACCESS_KEY_ID": s3.access_key_id,
        "ATS_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "ATS_S3_BUCKET": "topology-documents",
        "ATS_AUDIT_BUCKET": "topology-audit",
        "ATS_AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ATS_METRICS_TOKEN": METRICS_TOKEN,
        "ATS_DEMO_ACCOUNT": "false",
        "ATS_WORKERS": "2",
        "ATS_LOG_FORMAT": "json",
        "ATS_HOST": "127.0.0.1",
    }
    # the one-shot migration, as the owner
    migrated = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ats.cli", "db", "upgrade"],
        env={**common, "ATS_DATABASE_OWNER_URL": owner_url, "ATS_DATA_DIR": str(root / "migrate")},
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr.decode()[-2000:]
    # an account to apply to, made as the recruiter's admin would be
    runtime = Runtime.create(load_settings({**common, "ATS_DATA_DIR": str(root / "setup")}))
    try:
        async with runtime.transaction() as session:
            await accounts.create_account(
                session, "Topology", admin_email="admin@topology.example", admin_password=PASSWORD
            )
    finally:
        await runtime.engine.dispose()

    ports = [free_port(), free_port()]
    procs = [
        _spawn({**common, "ATS_PORT": str(port), "ATS_DATA_DIR": str(root / f"api{i}")}, root / f"api{i}.log")
        for i, port in enumerate(ports)
    ]
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) for port in ports]
    try:
        for client in clients:
            await _wait_status(client, "/health/live", 200, 120)
        # no S3 yet: up, but not ready
        for client in clients:
            ready = await client.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert "storage" in ready.json()["detail"]
        # /metrics: the token, and only the token
        for client in clients:
            assert (await client.get("/metrics")).status_code == 401
            wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
            assert wrong.status_code == 401
            assert wrong.headers["www-authenticate"].startswith("Bearer")
            metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert metrics.status_code == 200
            assert "ats_requests_total" in metrics.text or "# TYPE" in metrics.text

        assert await asyncio.to_thread(s3.start)
        # every worker of both APIs retries the bucket in the background: ready within a bounded wait
        waits = [await _wait_status(client, "/health/ready", 200, 120) for client in clients]
        print(f"ready {max(waits):.1f}s after S3 started")
        for _ in range(4):  # several requests, so both workers of each API answer
            for client in clients:
                assert (await client.get("/health/ready")).status_code == 200
        # apply on one API, complete on the other, both ways
        await _apply_upload_complete(clients[0], clients[1], s3_public)
        await _apply_upload_complete(clients[1], clients[0], s3_public)
    finally:
        for client in clients:
            await client.aclose()
        for proc in procs:
            os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)
        s3.stop(kill=True)

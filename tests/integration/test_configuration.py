"""Configuration as it meets the real services: the suite's own data dir, database URLs, request ids in logs."""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from ats.api.logging import JsonFormatter, RequestIdFilter
from ats.storage import StorageUnavailable
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ats.db import create_engine
from ats.embedded import EmbeddedServices
from ats.runtime import Runtime
from ats.settings import Settings, load_settings
from tests.conftest import Account
from tests.integration.helpers import make_application, make_job


def test_the_suite_runs_in_its_own_data_dir(services: tuple[Settings, EmbeddedServices], suite_data_dir: Path) -> None:
    """Whatever ATS_* the developer exported, the suite started its own services in a fresh temp dir."""
    settings, started = services
    assert settings.data_dir == suite_data_dir
    assert suite_data_dir.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert sorted(started.started) == ["postgres", "s3"]
    assert started.postgres is not None and started.postgres.root == suite_data_dir.resolve()
    assert settings.database_url == started.postgres.app_url
    assert settings.database_owner_url == started.postgres.owner_url
    assert started.s3 is not None and settings.s3_endpoint_url == started.s3.endpoint_url
    assert {k for k in os.environ if k.startswith("ATS_")} == {"ATS_DATA_DIR", "ATS_EMBEDDED_FAST", "ATS_DEMO_ACCOUNT"}


PASSWORD = "p@ss:w/o#rd?%"


async def test_a_percent_encoded_password_connects(settings: Settings, superuser_url: str) -> None:
    """A role whose password holds @ : / # ? % connects through ats.db.create_engine once percent-encoded."""
    role = f"ats_pw_{uuid.uuid4().hex[:8]}"
    superuser = create_engine(superuser_url, pool_size=1)
    async with superuser.begin() as connection:
        await connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'"))
    server = make_url(str(settings.database_url))
    async with superuser.begin() as connection:  # the database is not open to PUBLIC
        await connection.execute(text(f'GRANT CONNECT ON DATABASE "{server.database}" TO {role}'))
    try:
        url = f"postgresql://{role}:{quote(PASSWORD, safe='')}@{server.host}:{server.port}/{server.database}"
        own = load_settings({"ATS_DATABASE_URL": url})
        assert make_url(str(own.database_url)).password == PASSWORD
        engine = create_engine(str(own.database_url), pool_size=1)
        try:
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT current_user")) == role
        finally:
            await engine.dispose()
        # the password is really checked: a wrong one is refused
        wrong = create_engine(str(make_url(str(own.database_url)).set(password="p@ss")), pool_size=1)
        try:
            with pytest.raises(OperationalError):
                async with wrong.connect():
                    pass
        finally:
            await wrong.dispose()
    finally:
        async with superuser.begin() as connection:
            await connection.execute(text(f'REVOKE CONNECT ON DATABASE "{server.database}" FROM {role}'))
            await connection.execute(text(f"DROP ROLE {role}"))
        await superuser.dispose()


@pytest.fixture
def ats_log() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    """The handler configure_logging installed on ``ats``, writing to a buffer for the test."""
    handler = next(
        h
        for h in logging.getLogger("ats").handlers
        if isinstance(h, logging.StreamHandler) and any(isinstance(f, RequestIdFilter) for f in h.filters)
    )
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous, formatter = handler.setStream(buffer), handler.formatter
    try:
        yield handler, buffer
    finally:
        handler.setStream(previous)
        handler.setFormatter(formatter)


async def _erase_with_s3_failing(
    account: Account,
    client: AsyncTestClient[Litestar],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    **headers: str,
) -> str:
    """Erase an application while S3 deletes fail, so the erasure service logs a warning; return the response's id."""

    def unavailable(prefix: str) -> int:
        raise StorageUnavailable("down for the test")

    job = await make_job(account)
    application = await make_application(account, job["id"])
    with monkeypatch.context() as patch:
        patch.setattr(runtime.documents, "delete_prefix", unavailable)
        response = await client.delete(
            f"/api/v1/applications/{application['id']}", headers={**account.headers, **headers}
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["storage"] == "pending"
    return response.headers["x-request-id"]


async def test_text_logs_of_a_request_carry_its_id(
    account: Account,
    client: AsyncTestClient[Litestar],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    ats_log: tuple[logging.Handler, io.StringIO],
) -> None:
    _, buffer = ats_log
    request_id = await _erase_with_s3_failing(account, client, runtime, monkeypatch)
    lines = buffer.getvalue().splitlines()
    erasure = [line for line in lines if " ats.erasure " in line and "deferred" in line]
    request = [line for line in lines if " ats.request " in line and "DELETE /api/v1/applications/" in line]
    assert erasure and request, lines
    assert all(f"[{request_id}]" in line for line in erasure + request), lines
    logging.getLogger("ats.erasure").warning("outside any request")
    assert buffer.getvalue().splitlines()[-1].endswith("ats.erasure [-] outside any request")


async def test_json_logs_of_a_request_carry_its_id(
    account: Account,
    client: AsyncTestClient[Litestar],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    ats_log: tuple[logging.Handler, io.StringIO],
) -> None:
    handler, buffer = ats_log
    handler.setFormatter(JsonFormatter())
    sent = f"test-{uuid.uuid4().hex}"
    assert await _erase_with_s3_failing(account, client, runtime, monkeypatch, **{"X-Request-Id": sent}) == sent
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    erasure = [r for r in records if r["logger"] == "ats.erasure" and "deferred" in r["message"]]
    request = [r for r in records if r["logger"] == "ats.request" and r.get("method") == "DELETE"]
    assert erasure and request, records
    assert {r["request_id"] for r in erasure + request} == {sent}

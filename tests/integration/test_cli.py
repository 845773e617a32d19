"""Every ``ats`` command run as a subprocess: what it prints on success, and one line with exit 2 on failure."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ats import audit
from ats.auth import Principal
from ats.runtime import Runtime
from ats.settings import Settings

PASSWORD = "correct horse battery"


def _env(settings: Settings, data_dir: Path, **overrides: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {
        "PATH": "/usr/bin:/bin",
        "ATS_DATA_DIR": str(data_dir),
        "ATS_DATABASE_URL": str(settings.database_url),
        "ATS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "ATS_S3_ACCESS_KEY_ID": str(settings.s3_access_key_id),
        "ATS_S3_SECRET_ACCESS_KEY": str(settings.s3_secret_access_key),
        "ATS_S3_BUCKET": settings.s3_bucket,
    }
    if "ATS_DATABASE_URL" in overrides:
        # Another database is another deployment: its own audit checkpoints (the suite's name accounts it lacks).
        env["ATS_AUDIT_BUCKET"] = f"ats-audit-{uuid.uuid4().hex[:12]}"
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def ats(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ats.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def ok(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """Exit 0 with one JSON line on stdout (returned)."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def failed(result: subprocess.CompletedProcess[str], says: str) -> str:
    """Exit 2 and exactly one line on stderr containing ``says`` (returned), never a traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return _env(settings, tmp_path)


def _new_account(env: dict[str, str]) -> str:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    created = ok(ats(env, "accounts", "create", "CLI test", "--admin-email", email, "--admin-password", PASSWORD))
    assert set(created) == {"account_id", "admin_id"}
    return str(created["account_id"])


def test_accounts_users_and_api_keys(env: dict[str, str]) -> None:
    failed(
        ats(env, "accounts", "create", "Short", "--admin-email", "a@example.com", "--admin-password", "short"),
        "password: must be at least 8 characters",
    )
    account = _new_account(env)

    email = f"rita-{uuid.uuid4().hex[:8]}@example.com"
    user = ["users", "create", "--email", email, "--role", "recruiter", "--password", PASSWORD]
    assert "user_id" in ok(ats(env, *user, "--account", account))
    failed(ats(env, *user, "--account", account), "already exists")
    failed(ats(env, *user, "--account", str(uuid.uuid4())), "no account")
    failed(ats(env, *user, "--account", "notauuid"), "'notauuid' is not a valid UUID")
    bad_role = ["users", "create", "--account", account, "--email", "x@example.com", "--password", PASSWORD]
    failed(ats(env, *bad_role, "--role", "boss"), "'boss' is not one of 'admin', 'recruiter'")

    key = ok(ats(env, "api-keys", "create", "--account", account, "--name", "ci", "--role", "recruiter"))
    assert set(key) == {"api_key_id", "key"} and key["key"]
    failed(
        ats(env, "api-keys", "create", "--account", str(uuid.uuid4()), "--name", "ci", "--role", "admin"), "no account"
    )


async def test_audit_verify_ok_then_broken(env: dict[str, str], runtime: Runtime, as_owner: AsyncEngine) -> None:
    from ats.services import accounts

    async with runtime.transaction() as session:
        created, _ = await accounts.create_account(
            session, "Audit", admin_email=f"a-{uuid.uuid4().hex[:8]}@example.com", admin_password=PASSWORD
        )
        await audit.record(session, Principal.system(created.id), "job.created")
        await audit.record(session, Principal.system(created.id), "job.updated")
    account = str(created.id)
    verified = ok(ats(env, "audit", "verify", "--account", account))
    assert verified["ok"] is True and verified["checked"] == 2
    failed(ats(env, "audit", "verify", "--account", str(uuid.uuid4())), "no account")

    # As the table owner, with the trigger disabled, edit one event's data (as in test_audit_log).
    async with as_owner.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
        await conn.execute(
            text('UPDATE audit_events SET data = \'{"role": "admin"}\' WHERE account_id = :a AND seq = 2'),
            {"a": uuid.UUID(account)},
        )
        await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete"))
    broken = ats(env, "audit", "verify", "--account", account)
    assert broken.returncode == 1, broken.stderr
    line = json.loads(broken.stdout)
    assert line["ok"] is False and line["broken_at"] == 2


def test_documents_sweep_and_retention(env: dict[str, str]) -> None:
    swept = ok(ats(env, "documents", "sweep"))
    assert set(swept) == {"erasure_objects_removed", "documents_removed", "idempotency_keys_removed"}
    assert swept["erasure_objects_removed"] is not None

    dry = ok(ats(env, "retention", "run", "--dry-run"))
    assert dry["dry_run"] is True and dry["count"] == len(dry["erased"])
    done = ok(ats(env, "retention", "run"))
    assert done["dry_run"] is False


def test_settings_and_database_failures(settings: Settings, tmp_path: Path) -> None:
    failed(ats(_env(settings, tmp_path, ATS_PORT="notaport"), "audit", "verify"), "ATS_PORT")
    unreachable = _env(settings, tmp_path, ATS_DATABASE_URL="postgresql+psycopg://ats:x@127.0.0.1:1/ats")
    failed(ats(unreachable, "audit", "verify"), "the database is unreachable")


def test_embedded_postgres_is_started_when_not_running(settings: Settings, tmp_path: Path) -> None:
    """No ATS_DATABASE_URL: the data dir's embedded PostgreSQL is started for the command, then stopped."""
    data = tmp_path / "data"
    env = _env(settings, data, ATS_DATABASE_URL=None, ATS_EMBEDDED_FAST="true")
    failed(ats(env, "audit", "verify"), "the database is not migrated: run `ats db upgrade`")
    upgraded = ats(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    verified = ats(env, "audit", "verify")  # no account yet: nothing to print
    assert verified.returncode == 0 and verified.stdout == "", verified.stderr
    _new_account(env)  # a write, as the embedded app role
    status = ats(env, "services", "status")
    # each command stopped it; as root the cluster lives outside the data dir, which links to it
    assert status.stdout.splitlines()[0] == f"postgres: stopped (data {(data / 'pg').resolve()})"


def test_embedded_postgres_that_cannot_start(settings: Settings, tmp_path: Path) -> None:
    """The data dir's PostgreSQL port is taken by another process: one line naming it, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "pg.json").write_text(json.dumps({"port": port, "password": "x"}))
        line = failed(ats(_env(settings, tmp_path, ATS_DATABASE_URL=None), "audit", "verify"), f"port {port} is in use")
    assert line.startswith(f"ats: cannot start the embedded PostgreSQL of {tmp_path.resolve()}")
    assert not (tmp_path / "pg").exists()


def test_unmigrated_database_then_db_upgrade(settings: Settings, superuser_url: str, tmp_path: Path) -> None:
    """A new database of the owner role: commands as the app role say it is not migrated until `db upgrade`."""
    url = make_url(str(settings.database_url))
    owner = make_url(str(settings.database_owner_url))
    name = "ats_cli_" + uuid.uuid4().hex[:12]
    admin = create_engine(superuser_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner.username}"'))
    try:
        env = _env(
            settings,
            tmp_path,
            ATS_DATABASE_URL=url.set(database=name).render_as_string(hide_password=False),
            ATS_DATABASE_OWNER_URL=owner.set(database=name).render_as_string(hide_password=False),
        )
        line = failed(
            ats(
                env,
                "users",
                "create",
                "--account",
                str(uuid.uuid4()),
                "--email",
                "a@example.com",
                "--role",
                "admin",
                "--password",
                PASSWORD,
            ),
            "the database is not migrated: run `ats db upgrade`",
        )
        assert line == "ats: the database is not migrated: run `ats db upgrade`"
        upgraded = ats(env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert "latest revision" in upgraded.stdout
        assert ats(env, "audit", "verify").returncode == 0  # migrated: commands work
        _new_account(env)  # and the app role was granted what it writes with
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_services_start_status_stop(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ATS_DATA_DIR": str(tmp_path / "data"), "ATS_EMBEDDED_FAST": "true"}
    try:
        started = ats(env, "services", "start")
        assert started.returncode == 0, started.stderr
        status = ats(env, "services", "status")
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert lines[0].startswith("postgres: running on 127.0.0.1:"), status.stdout
        assert lines[1].startswith("s3: running on http://127.0.0.1:"), status.stdout
    finally:
        stopped = ats(env, "services", "stop")  # another process than the one that started them
    assert stopped.returncode == 0, stopped.stderr
    status = ats(env, "services", "status")
    assert status.stdout.splitlines() == [
        f"postgres: stopped (data {(tmp_path / 'data' / 'pg').resolve()})",
        f"s3: stopped (data {tmp_path / 'data' / 's3'})",
    ]


async def test_readiness_says_an_unmigrated_database_is_not_ready(settings: Settings, superuser_url: str) -> None:
    """A host app mounted on a database nobody migrated: readiness is 503 with the one line that says what to do."""
    import dataclasses

    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    from ats import ATSConfig, ATSPlugin
    from ats.migrate import NOT_MIGRATED

    owner = make_url(str(settings.database_owner_url))
    name = "ats_ready_" + uuid.uuid4().hex[:12]
    admin = create_engine(superuser_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner.username}"'))
    try:
        empty = owner.set(database=name).render_as_string(hide_password=False)
        fresh = dataclasses.replace(settings, database_url=empty, demo_account=False)
        host = Litestar(plugins=[ATSPlugin(ATSConfig(settings=fresh, background_jobs=False))])
        async with AsyncTestClient(app=host) as client:
            ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert NOT_MIGRATED in ready.json()["detail"]
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

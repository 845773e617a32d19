from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ats import audit, events
from ats.auth import Principal
from ats.models import AuditEvent
from ats.runtime import Runtime
from ats.settings import Settings
from tests.conftest import PASSWORD, Account, problem


async def _actions(runtime: Runtime, account: Account) -> list[str]:
    async with runtime.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.account_id == account.id).order_by(AuditEvent.seq)
        )
        return list(rows)


async def test_auth_and_user_changes_are_audited(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": "wrong-password"})
    user_id, _ = await account.user("recruiter")
    await client.patch(f"/api/v1/users/{user_id}", json={"name": "New"}, headers=account.headers)
    await client.delete(f"/api/v1/users/{user_id}", headers=account.headers)
    key = (await client.post("/api/v1/api-keys", json={"name": "k", "role": "admin"}, headers=account.headers)).json()
    await client.delete(f"/api/v1/api-keys/{key['data']['id']}", headers=account.headers)
    await client.post("/api/v1/auth/logout", headers=account.headers)
    assert await _actions(runtime, account) == [
        "auth.login",
        "auth.login_failed",
        "user.created",
        "auth.login",
        "user.updated",
        "user.deactivated",
        "api_key.created",
        "api_key.revoked",
        "auth.logout",
    ]
    async with runtime.transaction() as session:
        result = await audit.verify_account(session, account.id)
    assert result.ok and result.checked == 9


async def test_database_refuses_update_delete_truncate(
    account: Account, runtime: Runtime, as_owner: AsyncEngine
) -> None:
    """The app's role lacks the privilege; even the table's owner meets the append-only triggers."""
    for statement in (
        "UPDATE audit_events SET action = 'x' WHERE account_id = :a",
        "DELETE FROM audit_events WHERE account_id = :a",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with runtime.transaction() as session:
                await session.execute(text(statement), {"a": account.id})
        with pytest.raises(DBAPIError, match="append-only"):
            async with as_owner.begin() as conn:
                await conn.execute(text(statement), {"a": account.id})


def _verify_cli(settings: Settings, account: Account) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "ATS_DATA_DIR": str(settings.data_dir),
        "ATS_DATABASE_URL": str(settings.database_url),
        "ATS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "ATS_S3_ACCESS_KEY_ID": str(settings.s3_access_key_id),
        "ATS_S3_SECRET_ACCESS_KEY": str(settings.s3_secret_access_key),
    }
    return subprocess.run(
        [sys.executable, "-m", "ats.cli", "audit", "verify", "--account", str(account.id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_tampering_is_detected_by_cli_and_endpoint(
    account: Account, client: AsyncTestClient[Litestar], as_owner: AsyncEngine, settings: Settings
) -> None:
    await account.user("recruiter")
    ok = _verify_cli(settings, account)
    assert ok.returncode == 0, ok.stderr
    assert '"ok": true' in ok.stdout
    # As the table owner (not the app's role), with the trigger disabled, edit one event's data.
    async with as_owner.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
        await conn.execute(
            text('UPDATE audit_events SET data = \'{"role": "admin"}\' WHERE account_id = :a AND seq = 2'),
            {"a": account.id},
        )
        await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete"))
    broken = _verify_cli(settings, account)
    assert broken.returncode == 1
    assert '"ok": false' in broken.stdout and '"broken_at": 2' in broken.stdout


async def test_deleted_event_breaks_the_chain(account: Account, runtime: Runtime, as_owner: AsyncEngine) -> None:
    async with runtime.transaction() as session:
        await audit.record(session, Principal.system(account.id), "job.created")
        await audit.record(session, Principal.system(account.id), "job.updated")
    async with as_owner.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
        await conn.execute(text("DELETE FROM audit_events WHERE account_id = :a AND seq = 2"), {"a": account.id})
        await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete"))
    async with runtime.transaction() as session:
        result = await audit.verify_account(session, account.id)
    assert not result.ok and result.broken_at == 3


async def test_no_password_in_audit_log(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD})
    async with runtime.transaction() as session:
        raw = await session.scalar(
            text("SELECT string_agg(row_to_json(a)::text, '') FROM audit_events a WHERE account_id = :a"),
            {"a": account.id},
        )
    assert PASSWORD not in raw and account.admin_email not in raw


async def test_audit_events_endpoint_filters_and_verifies(account: Account, client: AsyncTestClient[Litestar]) -> None:
    user_id, recruiter = await account.user("recruiter")
    events = await client.get("/api/v1/audit-events?action=user.created", headers=account.headers)
    assert events.status_code == 200
    body = events.json()
    assert body["meta"]["total"] == 1
    assert body["data"][0]["object_id"] == user_id
    assert body["data"][0]["actor"] == {"type": "user", "id": str(account.admin_id)}
    by_actor = (await client.get(f"/api/v1/audit-events?actor_id={user_id}", headers=account.headers)).json()
    assert [e["action"] for e in by_actor["data"]] == ["auth.login"]
    verify = (await client.get("/api/v1/audit-events/verify", headers=account.headers)).json()["data"]
    assert verify["ok"] is True and verify["checked"] == 3 and len(verify["head"]) == 64
    problem(await client.get("/api/v1/audit-events", headers=recruiter), 403, "forbidden")
    problem(await client.get("/api/v1/audit-events?action=nope", headers=account.headers), 422)
    problem(await client.get("/api/v1/audit-events?per_page=0", headers=account.headers), 422)
    problem(await client.get("/api/v1/audit-events?date_from=yesterday", headers=account.headers), 400)


async def test_audit_events_join_the_chain_at_commit_in_order(account: Account, runtime: Runtime) -> None:
    """A writer holds the account's lock only for its last statements: a second transaction of the same account
    records and commits while the first is still open, and each transaction's events are chained in the order
    they were recorded, in commit order."""
    system = Principal.system(account.id)
    async with runtime.transaction() as first:
        await audit.record(first, system, "job.created", data={"n": 1})
        await audit.record(first, system, "job.updated", data={"n": 2})

        async def second_writer() -> None:
            async with runtime.transaction() as second:
                await audit.record(second, system, "job.deleted", data={"n": 3})

        # Were the lock taken at record, this would wait on the first transaction forever: it fails instead.
        await asyncio.wait_for(second_writer(), timeout=20)
    async with runtime.transaction() as session:
        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.account_id == account.id).order_by(AuditEvent.seq)
            )
        ).all()
        result = await audit.verify_account(session, account.id)
    assert [(r.action, r.data) for r in rows[-3:]] == [
        ("job.deleted", {"n": 3}),
        ("job.created", {"n": 1}),
        ("job.updated", {"n": 2}),
    ]
    assert result.ok


async def test_a_discarded_transaction_appends_none_of_its_audit_events(account: Account, runtime: Runtime) -> None:
    """What a rolled-back unit of work recorded is dropped with it (``events.discard``), on the same session."""
    system = Principal.system(account.id)
    async with runtime.transaction() as session:
        await audit.record(session, system, "job.updated", data={"n": "dropped"})
        events.discard(session)  # what the request's owner does before its rollback
        await audit.record(session, system, "job.updated", data={"n": "kept"})
    async with runtime.transaction() as session:
        data = list(
            await session.scalars(
                select(AuditEvent.data).where(AuditEvent.account_id == account.id, AuditEvent.action == "job.updated")
            )
        )
    assert data == [{"n": "kept"}]

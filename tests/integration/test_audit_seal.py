"""Sealing: the fifteen tampering trials, each on sealed events of a fresh account, as the database owner.

The trials run as the embedded cluster's superuser (the app's own role may do none of this; see
test_privileges.py), so they can do what an attacker holding the owner role or more can: disable
the append-only triggers (or ``session_replication_role = replica``), rewrite rows and recompute hashes. It can
also delete or replace checkpoint objects in S3. Every trial must be caught by ``ats audit verify`` (exit 1)
and by ``GET /api/v1/audit-events/verify`` (``ok: false``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from ats import audit, audit_seal
from ats.auth import Principal
from ats.db import utcnow
from ats.models import AuditEvent
from ats.runtime import Runtime
from ats.settings import Settings
from ats.worker import background_jobs
from tests.conftest import Account, problem

EVENTS = 6  # recorded per account before the trial, in two sealed batches


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "ATS_DATA_DIR": str(settings.data_dir),
        "ATS_DATABASE_URL": str(settings.database_url),
        "ATS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "ATS_S3_ACCESS_KEY_ID": str(settings.s3_access_key_id),
        "ATS_S3_SECRET_ACCESS_KEY": str(settings.s3_secret_access_key),
    }
    return subprocess.run(
        [sys.executable, "-m", "ats.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _store(runtime: Runtime) -> audit_seal.CheckpointStore:
    return audit_seal.checkpoint_store(runtime.documents.client, runtime.settings)


async def _record(runtime: Runtime, account: Account, n: int, start: int = 0) -> None:
    async with runtime.transaction() as session:
        for i in range(start, start + n):
            action = "job.created" if i % 2 else "job.updated"
            await audit.record(session, Principal.system(account.id), action, object_type="job", data={"n": i})


async def _sealed_account(runtime: Runtime, client: AsyncTestClient[Litestar], account: Account) -> int:
    """Record events, seal (API), record more, seal (service): two checkpoints covering every event."""
    await _record(runtime, account, EVENTS // 2)
    first = await client.post("/api/v1/audit-events/seal", headers=account.headers)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["sealed"] is True
    await _record(runtime, account, EVENTS - EVENTS // 2, start=EVENTS // 2)
    written = await audit_seal.seal(
        runtime.uow, _store(runtime), audit_seal.signing_key(runtime.settings), account_id=account.id
    )
    assert len(written) == 1
    async with runtime.transaction() as session:
        total = await audit.count(session, account.id)
    assert written[0].seq == written[0].count == total
    verify = (await client.get("/api/v1/audit-events/verify", headers=account.headers)).json()["data"]
    assert verify["ok"] is True and verify["sealed_through"] == total and verify["unsealed"] == 0, verify
    return total


# --- the trials: each gets a superuser session (in one transaction), the account, another, and its last seq --


@contextlib.asynccontextmanager
async def superuser_session(url: str) -> AsyncIterator[AsyncSession]:
    """One transaction as the cluster's superuser, committed at the end."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            yield session
    finally:
        await engine.dispose()


Trial = Callable[[AsyncSession, Runtime, Account, Account, int], Awaitable[None]]
TRIGGER = "audit_events_no_update_delete"


async def _unlocked(session: AsyncSession, *statements: str, **params: Any) -> None:
    """Run statements with the append-only trigger disabled, as the table owner can."""
    await session.execute(text(f"ALTER TABLE audit_events DISABLE TRIGGER {TRIGGER}"))
    for statement in statements:
        await session.execute(text(statement), params)
    await session.execute(text(f"ALTER TABLE audit_events ENABLE TRIGGER {TRIGGER}"))


async def _rows(session: AsyncSession, account_id: uuid.UUID) -> list[AuditEvent]:
    return list(
        (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.account_id == account_id)
                .order_by(AuditEvent.seq)
                .execution_options(populate_existing=True)
            )
        ).all()
    )


async def edit_row(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await _unlocked(session, "UPDATE audit_events SET data = '{\"n\": 99}' WHERE account_id = :a AND seq = 2", a=a.id)


async def delete_middle_row(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await _unlocked(session, "DELETE FROM audit_events WHERE account_id = :a AND seq = 3", a=a.id)


async def swap_order(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await _unlocked(
        session,
        "UPDATE audit_events SET seq = -1 WHERE account_id = :a AND seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE account_id = :a AND seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE account_id = :a AND seq = -1",
        a=a.id,
    )


async def swap_ids(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    rows = await _rows(session, a.id)
    two, three = rows[1].id, rows[2].id
    await _unlocked(
        session,
        "UPDATE audit_events SET id = :tmp WHERE id = :two",
        "UPDATE audit_events SET id = :two WHERE id = :three",
        "UPDATE audit_events SET id = :three WHERE id = :tmp",
        tmp=uuid.uuid4(),
        two=two,
        three=three,
    )


async def swap_contents(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await _unlocked(
        session,
        "UPDATE audit_events e SET action = f.action, data = f.data, object_type = f.object_type, "
        "object_id = f.object_id, actor_type = f.actor_type, actor_id = f.actor_id, at = f.at "
        "FROM audit_events f WHERE e.account_id = :a AND f.account_id = :a "
        "AND ((e.seq = 2 AND f.seq = 3) OR (e.seq = 3 AND f.seq = 2))",
        a=a.id,
    )


def _forged(a: Account, seq: int, prev: str, *, at_offset: timedelta = timedelta(0)) -> AuditEvent:
    row = AuditEvent(
        id=uuid.uuid4(),
        account_id=a.id,
        seq=seq,
        at=utcnow() + at_offset,
        actor_type="user",
        actor_id=a.admin_id,
        action="user.created",
        object_type="user",
        object_id=uuid.uuid4(),
        data={"role": "admin"},
        prev_hash=prev,
    )
    row.hash = audit.chain_hash(prev, audit.event_body(row))
    return row


async def forged_row_random_hash(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    rows = await _rows(session, a.id)
    row = _forged(a, last + 1, rows[-1].hash)
    row.hash = secrets.token_hex(32)
    session.add(row)


async def forged_row_recomputed_hash(
    session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int
) -> None:
    # A forged "admin created" event appended behind the last checkpoint, dated a day earlier, hash recomputed.
    rows = await _rows(session, a.id)
    session.add(_forged(a, last + 1, rows[-1].hash, at_offset=-timedelta(days=1)))


async def forged_row_in_middle(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    rows = await _rows(session, a.id)
    await _unlocked(
        session,
        "UPDATE audit_events SET seq = seq + 1000 WHERE account_id = :a AND seq >= 3",
        "UPDATE audit_events SET seq = seq - 999 WHERE account_id = :a AND seq >= 1000",
        a=a.id,
    )
    session.add(_forged(a, 3, rows[1].hash))


async def replica_delete(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    # Triggers do not fire in replica mode: the newest event goes, leaving a chain that is valid on its own.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(text("DELETE FROM audit_events WHERE account_id = :a AND seq = :s"), {"a": a.id, "s": last})


async def truncate_tail(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await _unlocked(session, "DELETE FROM audit_events WHERE account_id = :a AND seq > 2", a=a.id)


async def delete_whole_chain(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await _unlocked(session, "DELETE FROM audit_events WHERE account_id = :a", a=a.id)


async def rewrite_recomputed(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    await session.execute(text(f"ALTER TABLE audit_events DISABLE TRIGGER {TRIGGER}"))
    rows = await _rows(session, a.id)
    rows[1].data = {"n": 99}
    prev = rows[0].hash
    for row in rows[1:]:
        row.prev_hash = prev
        row.hash = prev = audit.chain_hash(prev, audit.event_body(row))
    await session.flush()
    await session.execute(text(f"ALTER TABLE audit_events ENABLE TRIGGER {TRIGGER}"))


async def move_to_other_account(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    other_last = await session.scalar(
        text("SELECT coalesce(max(seq), 0) FROM audit_events WHERE account_id = :o"), {"o": o.id}
    )
    await _unlocked(
        session,
        "UPDATE audit_events SET account_id = :o, seq = :s WHERE account_id = :a AND seq = :last",
        a=a.id,
        o=o.id,
        s=int(other_last or 0) + 1,
        last=last,
    )


async def delete_checkpoint(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    store = _store(runtime)
    store.client.delete_object(Bucket=store.bucket, Key=store.keys(a.id)[-1])


async def replace_checkpoint(session: AsyncSession, runtime: Runtime, a: Account, o: Account, last: int) -> None:
    # The attacker re-signs an altered checkpoint with a key of their own.
    store = _store(runtime)
    key = store.keys(a.id)[0]
    checkpoint = store.read(key)
    assert isinstance(checkpoint, dict)
    forged = audit_seal.sign(Ed25519PrivateKey.generate(), {**checkpoint, "head": secrets.token_hex(32)})
    store.client.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(forged).encode())


TRIALS: list[Trial] = [
    edit_row,
    delete_middle_row,
    swap_order,
    swap_ids,
    swap_contents,
    forged_row_random_hash,
    forged_row_recomputed_hash,
    forged_row_in_middle,
    replica_delete,
    truncate_tail,
    delete_whole_chain,
    rewrite_recomputed,
    move_to_other_account,
    delete_checkpoint,
    replace_checkpoint,
]


@pytest.mark.parametrize("trial", TRIALS, ids=[t.__name__ for t in TRIALS])
async def test_tampering_with_sealed_events_is_detected(
    trial: Trial,
    account: Account,
    other_account: Account,
    client: AsyncTestClient[Litestar],
    runtime: Runtime,
    settings: Settings,
    superuser_url: str,
) -> None:
    last = await _sealed_account(runtime, client, account)
    before = _cli(settings, "audit", "verify", "--account", str(account.id))
    assert before.returncode == 0, before.stdout + before.stderr

    async with superuser_session(superuser_url) as session:
        await trial(session, runtime, account, other_account, last)

    api = (await client.get("/api/v1/audit-events/verify", headers=account.headers)).json()["data"]
    assert api["ok"] is False, api
    assert api["reason"]
    cli = _cli(settings, "audit", "verify", "--account", str(account.id))
    assert cli.returncode == 1, cli.stdout + cli.stderr
    line = json.loads(cli.stdout)
    assert line["ok"] is False and line["account_id"] == str(account.id)


async def test_events_after_the_last_checkpoint_are_reported_unsealed(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    last = await _sealed_account(runtime, client, account)
    await _record(runtime, account, 2, start=100)
    verify = (await client.get("/api/v1/audit-events/verify", headers=account.headers)).json()["data"]
    assert verify == {
        "ok": True,
        "checked": last + 2,
        "head": verify["head"],
        "broken_at": None,
        "reason": None,
        "sealed_through": last,
        "unsealed": 2,
    }
    again = (await client.post("/api/v1/audit-events/seal", headers=account.headers)).json()["data"]
    assert again["sealed"] is True and again["checkpoint"]["seq"] == last + 2
    assert again["checkpoint"]["head"] == verify["head"] and again["checkpoint"]["count"] == last + 2
    nothing = (await client.post("/api/v1/audit-events/seal", headers=account.headers)).json()["data"]
    assert nothing == {"sealed": False, "checkpoint": None}


async def test_only_admins_and_compliance_seal(account: Account, client: AsyncTestClient[Litestar]) -> None:
    _, recruiter = await account.user("recruiter")
    problem(await client.post("/api/v1/audit-events/seal", headers=recruiter), 403, "forbidden")
    _, compliance = await account.user("compliance")
    assert (await client.post("/api/v1/audit-events/seal", headers=compliance)).status_code == 200


async def test_checkpoints_are_signed_json_under_their_prefix(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime, settings: Settings
) -> None:
    last = await _sealed_account(runtime, client, account)
    store = _store(runtime)
    keys = store.keys(account.id)
    first_seq = last - (EVENTS - EVENTS // 2)
    assert keys == [audit_seal.checkpoint_key(account.id, first_seq), audit_seal.checkpoint_key(account.id, last)]
    assert all(k.startswith(f"audit-checkpoints/{account.id}/") for k in keys)
    first, second = (store.read(k) for k in keys)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert set(second) == {"account_id", "seq", "head", "count", "at", "prev", "signature"}
    assert first["prev"] == audit.GENESIS and second["prev"] == audit_seal.checkpoint_hash(first)
    public = _cli(settings, "audit", "public-key")
    assert public.returncode == 0, public.stderr
    key = audit_seal.parse_public_key(public.stdout)
    assert audit_seal.signature_valid(key, second)
    assert not audit_seal.signature_valid(key, {**second, "count": second["count"] + 1})
    assert len(base64.b64decode(json.loads(public.stdout)["public_key"])) == 32


async def test_cli_seal_writes_checkpoints_for_accounts_with_new_events(
    account: Account, runtime: Runtime, settings: Settings
) -> None:
    await _record(runtime, account, 3)
    sealed = _cli(settings, "audit", "seal")
    assert sealed.returncode == 0, sealed.stderr
    lines = [json.loads(line) for line in sealed.stdout.splitlines()]
    mine = [line for line in lines if line.get("account_id") == str(account.id)]
    assert len(mine) == 1 and mine[0]["key"] == _store(runtime).keys(account.id)[-1]
    verify = _cli(settings, "audit", "verify", "--account", str(account.id))
    assert verify.returncode == 0 and json.loads(verify.stdout)["unsealed"] == 0


def _download_checkpoints(runtime: Runtime, account: Account, into: Path) -> None:
    store = _store(runtime)
    for key in store.keys(account.id):
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


async def test_offline_verification(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    last = await _sealed_account(runtime, client, account)
    exported = _cli(settings, "audit", "export", "--account", str(account.id))
    assert exported.returncode == 0, exported.stderr
    events = tmp_path / "events.jsonl"
    events.write_text(exported.stdout)
    assert len(exported.stdout.splitlines()) == last
    public = tmp_path / "public.key"
    public.write_text(_cli(settings, "audit", "public-key").stdout)
    checkpoints = tmp_path / "checkpoints"
    _download_checkpoints(runtime, account, checkpoints)

    def offline(events_file: Path, key: str = str(public)) -> subprocess.CompletedProcess[str]:
        return _cli(
            settings,
            "audit",
            "verify",
            "--offline",
            "--checkpoints",
            str(checkpoints),
            "--events",
            str(events_file),
            "--public-key",
            key,
        )

    good = offline(events)
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout) | {"head": None} == {
        "account_id": str(account.id),
        "ok": True,
        "checked": last,
        "head": None,
        "sealed_through": last,
        "unsealed": 0,
    }

    # Rewrite one event and recompute every hash after it: the chain holds, the checkpoints do not.
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    records[1]["data"] = {"n": 99}
    prev = records[0]["hash"]
    for record in records[1:]:
        record["prev_hash"] = prev
        body = {k: v for k, v in record.items() if k not in {"prev_hash", "hash"}}
        record["hash"] = prev = audit.chain_hash(prev, body)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("".join(json.dumps(r) + "\n" for r in records))
    bad = offline(tampered)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["ok"] is False

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(exported.stdout.splitlines(keepends=True)[:-1]))
    assert offline(truncated).returncode == 1

    # Another key (the attacker's) does not verify the genuine checkpoints.
    stranger = audit_seal.public_key_text(Ed25519PrivateKey.generate())
    assert offline(events, stranger).returncode == 1

    broken_key = offline(events, "not-a-key")
    assert broken_key.returncode == 2 and broken_key.stderr.count("\n") == 1
    assert "public key" in broken_key.stderr


async def test_offline_verify_needs_its_inputs(settings: Settings) -> None:
    usage = _cli(settings, "audit", "verify", "--offline")
    assert usage.returncode == 2 and "--checkpoints" in usage.stderr


async def test_verify_of_every_account_finds_a_chain_deleted_with_its_index(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime, settings: Settings, superuser_url: str
) -> None:
    await _sealed_account(runtime, client, account)
    async with superuser_session(superuser_url) as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(text("DELETE FROM audit_events WHERE account_id = :a"), {"a": account.id})
        await session.execute(text("DELETE FROM audit_checkpoints WHERE account_id = :a"), {"a": account.id})
    every = _cli(settings, "audit", "verify")
    assert every.returncode == 1, every.stderr
    lines = [json.loads(line) for line in every.stdout.splitlines()]
    mine = [line for line in lines if line["account_id"] == str(account.id)]
    assert mine and mine[0]["ok"] is False and mine[0]["reason"] == "sealed events missing"


async def test_the_worker_seals_every_interval(account: Account, runtime: Runtime, settings: Settings) -> None:
    await _record(runtime, account, 2)
    worker_runtime = Runtime.create(dataclasses.replace(settings, audit_seal_interval=1, sweep_interval=3600))
    jobs = asyncio.create_task(background_jobs(worker_runtime))
    try:
        for _ in range(240):  # it seals every account of the suite with new events, in no set order
            await asyncio.sleep(0.5)
            if _store(runtime).keys(account.id):
                break
    finally:
        jobs.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await jobs
        await worker_runtime.engine.dispose()
    async with runtime.transaction() as session:
        total = await audit.count(session, account.id)
    assert _store(runtime).keys(account.id) == [audit_seal.checkpoint_key(account.id, total)]

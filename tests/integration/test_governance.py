"""An account stays governable: its last active admin stays; failed logins slow attackers, not the owner."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from ats import ATSConfig, ATSPlugin
from ats.embedded import EmbeddedPostgres, ensure_services
from ats.models import User
from ats.runtime import Runtime
from ats.settings import Settings, load_settings
from tests.conftest import PASSWORD, Account, new_account, problem

LIMIT = 3  # failed logins per (email, address); ten times this per address and per email


async def _admins(account: Account) -> list[dict[str, object]]:
    listed = await account.client.get("/api/v1/users", headers=account.headers)
    assert listed.status_code == 200, listed.text
    return [u for u in listed.json()["data"] if u["role"] == "admin" and u["active"]]


async def test_the_last_admin_cannot_be_demoted_deactivated_or_deleted(account: Account) -> None:
    url = f"/api/v1/users/{account.admin_id}"
    for body in ({"role": "recruiter"}, {"active": False}, {"role": "compliance", "active": False}):
        problem(await account.client.patch(url, json=body, headers=account.headers), 409, "last_admin")
    problem(await account.client.delete(url, headers=account.headers), 409, "last_admin")
    # Nothing changed, and the admin still works.
    assert [u["id"] for u in await _admins(account)] == [str(account.admin_id)]
    renamed = await account.client.patch(url, json={"name": "Still Admin"}, headers=account.headers)
    assert renamed.status_code == 200, renamed.text


async def test_with_two_admins_one_can_go(account: Account) -> None:
    second, second_headers = await account.user("admin")
    third, _ = await account.user("admin")
    assert (await account.client.delete(f"/api/v1/users/{third}", headers=second_headers)).status_code == 204
    demoted = await account.client.patch(
        f"/api/v1/users/{account.admin_id}", json={"role": "recruiter"}, headers=second_headers
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["data"]["role"] == "recruiter"
    # Now the second is the last one: it cannot deactivate itself.
    problem(await account.client.delete(f"/api/v1/users/{second}", headers=second_headers), 409, "last_admin")
    # A non-admin (or an inactive admin) is never "the last admin".
    back = await account.client.patch(f"/api/v1/users/{third}", json={"role": "recruiter"}, headers=second_headers)
    assert back.status_code == 200, back.text


async def test_concurrent_mutual_demotion_leaves_an_admin(client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    for _ in range(4):
        account = await new_account(client, runtime)
        a, a_headers = await account.user("admin")
        b, b_headers = await account.user("admin")
        gone = await client.delete(f"/api/v1/users/{account.admin_id}", headers=a_headers)
        assert gone.status_code == 204, gone.text
        # a and b are the only admins; each takes the other away at once.
        first, second = await asyncio.gather(
            client.patch(f"/api/v1/users/{b}", json={"role": "recruiter"}, headers=a_headers),
            client.patch(f"/api/v1/users/{a}", json={"active": False}, headers=b_headers),
        )
        statuses = sorted([first.status_code, second.status_code])
        # The loser either meets the winner's lock and counts one admin (409), or its token was revoked (401).
        assert statuses in ([200, 401], [200, 409]), (first.text, second.text)
        loser = second if first.status_code == 200 else first
        if loser.status_code == 409:
            problem(loser, 409, "last_admin")
        async with runtime.transaction() as session:
            left = (
                await session.scalars(
                    select(User.id).where(User.account_id == account.id, User.role == "admin", User.active.is_(True))
                )
            ).all()
        assert [str(x) for x in left] == [a if first.status_code == 200 else b]


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own (fresh counters) behind a trusted loopback proxy; requests name their IP in XFF."""
    ours = dataclasses.replace(settings, login_rate_limit=LIMIT, trusted_proxies=settings.trusted_proxies + _loopback())
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=ours, background_jobs=False))])
    async with AsyncTestClient(app=app, timeout=60):  # runs the lifespan
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
            yield http


def _loopback() -> tuple[object, ...]:
    import ipaddress

    return (ipaddress.ip_network("127.0.0.1/32"),)


async def _login(http: httpx.AsyncClient, email: str, password: str, ip: str) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/token", json={"email": email, "password": password}, headers={"X-Forwarded-For": ip}
    )


async def test_failures_from_one_address_do_not_lock_the_owner_out(
    account: Account, proxied: httpx.AsyncClient
) -> None:
    attacker, owner = "203.0.113.10", "198.51.100.20"
    codes = [
        (await _login(proxied, account.admin_email, "wrong password", attacker)).status_code for _ in range(LIMIT + 2)
    ]
    assert codes == [401] * LIMIT + [429, 429]
    limited = await _login(proxied, account.admin_email, PASSWORD, attacker)
    assert problem(limited, 429, "rate_limited") and int(limited.headers["retry-after"]) > 0
    # The owner, elsewhere, logs in.
    ok = await _login(proxied, account.admin_email, PASSWORD, owner)
    assert ok.status_code == 200, ok.text
    # Another user from the attacker's address is not blocked either (below the per-address limit).
    other = await _login(proxied, f"nobody-{uuid.uuid4().hex[:8]}@example.com", "wrong password", attacker)
    assert other.status_code == 401


async def test_one_address_trying_many_emails_hits_the_wider_limit(proxied: httpx.AsyncClient) -> None:
    ip = "203.0.113.77"
    codes = []
    for _ in range(LIMIT * 10 + 2):
        email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
        codes.append((await _login(proxied, email, "wrong password", ip)).status_code)
    assert codes == [401] * (LIMIT * 10) + [429, 429]
    # Another address is unaffected.
    elsewhere = await _login(proxied, f"nobody-{uuid.uuid4().hex[:8]}@example.com", "wrong password", "203.0.113.78")
    assert elsewhere.status_code == 401


async def test_one_email_from_many_addresses_meets_a_high_ceiling(account: Account, proxied: httpx.AsyncClient) -> None:
    codes = []
    for n in range(LIMIT * 10 + 1):
        # Each address stays under its own per-(email, address) limit.
        ip = f"192.0.2.{n // LIMIT + 1}"
        codes.append((await _login(proxied, account.admin_email, "wrong password", ip)).status_code)
    assert codes == [401] * (LIMIT * 10) + [429]


def _modes(path: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.parents]}


def test_embedded_postgres_changes_no_parent_of_the_data_dir() -> None:
    parent = Path(tempfile.mkdtemp(prefix="ats-private-"))
    parent.chmod(0o700)
    data_dir = parent / "deep" / "data"
    data_dir.mkdir(parents=True)
    (parent / "deep").chmod(0o750)
    before = _modes(data_dir)
    env = {"ATS_DATA_DIR": str(data_dir), "ATS_EMBEDDED_FAST": "true", "ATS_DEMO_ACCOUNT": "false"}
    settings, started = ensure_services(load_settings(env), s3=False)
    try:
        assert started.postgres is not None and started.postgres.is_running()
        assert settings.database_url is not None
        assert _modes(data_dir) == before
        if os.geteuid() == 0:
            # The cluster lives where the service user can reach it: its own 0700 dir, outside the data dir.
            home = started.postgres.home
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
            assert home.stat().st_uid != 0 and not home.is_relative_to(parent)
            assert (data_dir / "pg").resolve() == started.postgres.pgdata.resolve()
    finally:
        started.stop()
    assert _modes(data_dir) == before
    assert not EmbeddedPostgres(data_dir.resolve()).is_running()

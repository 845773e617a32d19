"""§1 the client IP, over real TCP: ``ats run`` (uvicorn) serves, requests come from loopback.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default and rewrites the peer with it; ``ats run`` turns that
off, so only ``ATS_TRUSTED_PROXIES`` decides whether the header counts. Each server is its own process: its rate
limit counters start at zero.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ats.storage.embedded import free_port

from ats.settings import Settings
from tests.conftest import Account
from tests.integration.helpers import make_job
from tests.integration.test_public_apply import HEADERS, apply_body

LOGIN_LIMIT = 2  # failed logins per address: ten times this (ats.runtime)
APPLY_LIMIT = 3
# Behind the proxy every junk case falls back to 127.0.0.1: one bucket, which must hold them all.
PROXY_APPLY_LIMIT = 8
TRUSTED = "127.0.0.1/32"


def _serve(settings: Settings, **extra: str) -> Iterator[str]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="ats-ip-")
    env = {
        "PATH": "/usr/bin:/bin",
        "ATS_DATA_DIR": data_dir,
        "ATS_DATABASE_URL": str(settings.database_url),
        "ATS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "ATS_S3_ACCESS_KEY_ID": str(settings.s3_access_key_id),
        "ATS_S3_SECRET_ACCESS_KEY": str(settings.s3_secret_access_key),
        "ATS_S3_BUCKET": settings.s3_bucket,
        "ATS_HOST": "127.0.0.1",
        "ATS_PORT": str(port),
        "ATS_DEMO_ACCOUNT": "false",
        "ATS_LOGIN_RATE_LIMIT": str(LOGIN_LIMIT),
        "ATS_PUBLIC_RATE_LIMIT": str(APPLY_LIMIT),
        **extra,
    }
    log = Path(data_dir) / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "ats.cli", "run"], env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "ats run did not answer in 90 s:\n" + log.read_text()[-3000:]
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture(scope="module")
def untrusted(settings: Settings) -> Iterator[str]:
    """``ats run`` with ATS_TRUSTED_PROXIES unset."""
    yield from _serve(settings)


@pytest.fixture(scope="module")
def behind_proxy(settings: Settings) -> Iterator[str]:
    """``ats run`` believing the loopback proxy."""
    yield from _serve(settings, ATS_TRUSTED_PROXIES=TRUSTED, ATS_PUBLIC_RATE_LIMIT=str(PROXY_APPLY_LIMIT))


def _spoofed(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{n % 250 + 1}"}


async def _apply(http: httpx.AsyncClient, job_id: str, forwarded: str | None = None) -> httpx.Response:
    headers = {**HEADERS, **({"X-Forwarded-For": forwarded} if forwarded is not None else {})}
    return await http.post("/public/v1/applicants", json=apply_body(job_id, documents=[]), headers=headers)


async def _consent_ip(account: Account, response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    app_id = response.json()["data"]["id"]
    view = await account.client.get(f"/api/v1/applications/{app_id}", headers=account.headers)
    assert view.status_code == 200, view.text
    ip: str = view.json()["data"]["consent"]["ip_address"]
    return ip


async def test_rotating_forwarded_for_does_not_escape_the_login_limit(untrusted: str) -> None:
    async with httpx.AsyncClient(base_url=untrusted, timeout=30) as http:
        codes = []
        for n in range(LOGIN_LIMIT * 10 + 3):
            wrong = {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong password"}
            codes.append((await http.post("/api/v1/auth/token", json=wrong, headers=_spoofed(n))).status_code)
    assert codes[: LOGIN_LIMIT * 10] == [401] * (LOGIN_LIMIT * 10)
    assert codes[LOGIN_LIMIT * 10 :] == [429] * 3


async def test_rotating_forwarded_for_does_not_escape_the_apply_limit(untrusted: str, account: Account) -> None:
    job = await make_job(account)
    async with httpx.AsyncClient(base_url=untrusted, timeout=30) as http:
        first = await _apply(http, job["id"], "203.0.113.50")
        assert await _consent_ip(account, first) == "127.0.0.1"
        codes = [(await _apply(http, job["id"], f"203.0.113.{n}")).status_code for n in range(APPLY_LIMIT + 1)]
    assert codes == [201] * (APPLY_LIMIT - 1) + [429, 429]


async def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client(
    behind_proxy: str, account: Account
) -> None:
    job = await make_job(account)
    async with httpx.AsyncClient(base_url=behind_proxy, timeout=30) as http:
        stored = await _consent_ip(account, await _apply(http, job["id"], "6.6.6.6, 203.0.113.7"))
        assert stored == "203.0.113.7"
        stored = await _consent_ip(account, await _apply(http, job["id"], "203.0.113.8, 127.0.0.1"))
        assert stored == "203.0.113.8"
        # Each forwarded client has a limit of its own; the proxy's address is not one shared bucket.
        codes = [(await _apply(http, job["id"], "203.0.113.9")).status_code for _ in range(PROXY_APPLY_LIMIT + 1)]
        assert codes == [201] * PROXY_APPLY_LIMIT + [429]
        assert (await _apply(http, job["id"], "203.0.113.10")).status_code == 201


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("1" * 65, "127.0.0.1"),
        ("<script>alert(1)</script>", "127.0.0.1"),
        ("1.2.3.4, garbage", "127.0.0.1"),
        ("garbage, 203.0.113.20", "203.0.113.20"),
        ("fe80::1%<script>", "127.0.0.1"),
        ("[2001:db8::7]:4711", "2001:db8::7"),
    ],
)
async def test_junk_forwarded_for_never_fails_and_falls_back_to_the_peer(
    behind_proxy: str, account: Account, forwarded: str, expected: str
) -> None:
    job = await make_job(account)
    async with httpx.AsyncClient(base_url=behind_proxy, timeout=30) as http:
        response = await _apply(http, job["id"], forwarded)
        assert await _consent_ip(account, response) == expected
        login = await http.post(
            "/api/v1/auth/token",
            json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded},
        )
        assert login.status_code == 401, login.text


def _raw_get(base: str, target: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    """One request over a plain socket: httpx refuses to send a query string this long."""
    host, port = base.removeprefix("http://").split(":")
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/api/v1/jobs", "application/problem+json"), ("/public/v1/job_postings", "application/vnd.api+json")],
)
def test_a_100_kb_query_string_over_tcp_is_414_in_the_family_shape(untrusted: str, path: str, media_type: str) -> None:
    status, headers, body = _raw_get(untrusted, f"{path}?q={'x' * 100_000}", media_type)
    assert status == 414, body[:300]
    assert headers["content-type"].startswith(media_type)
    document = json.loads(body)
    code = document["code"] if media_type.startswith("application/problem") else document["errors"][0]["code"]
    assert code == "uri_too_long"

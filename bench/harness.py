"""What ``bench apply`` and ``bench gdpr`` share: fresh embedded services, uvicorn servers, a summary.

Servers are started the way ``bench list`` starts them: ``python -m uvicorn`` with one worker and
its defaults (uvloop and httptools when installed), no access log, settings as ``ATS_*`` variables.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ats import migrate
from ats.embedded import EmbeddedServices, ensure_services, wait_for
from ats.runtime import Runtime
from ats.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("httpx").setLevel(logging.WARNING)
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench correct horse battery"
ADMIN_NAME = "Bench Admin"


@dataclass
class Summary:
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.lines.append((name, value))

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  !! {text}", flush=True)

    def print(self, started: float) -> None:
        section("summary")
        width = max([len(k) for k, _ in self.lines] + [len("total run time")])
        for name, value in self.lines:
            print(f"  {name:<{width}}  {value}")
        print(f"  {'total run time':<{width}}  {time.perf_counter() - started:.0f} s")
        if self.problems:
            print("  findings:")
            for p in self.problems:
                print(f"    - {p.splitlines()[0]}")
        sys.stdout.flush()


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def machine_load(summary: Summary, seconds: float = 2.0) -> None:
    """How busy the CPUs are before the run (over ``seconds``): other work skews every ratio."""
    total0, idle0 = _cpu_times()
    time.sleep(seconds)
    total1, idle1 = _cpu_times()
    busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
    note = f"{busy:.0%} of {os.cpu_count()} CPUs busy before the run"
    print(f"  {note}", flush=True)
    summary.add("machine", note)
    if busy > 0.15:
        summary.problem(f"{note}: other processes compete for the CPUs, the figures are skewed")


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def conninfo(settings: Settings) -> str:
    """The libpq form of ``ATS_DATABASE_URL`` (``postgresql+psycopg://`` → ``postgresql://``)."""
    return "postgresql://" + str(settings.database_url).split("://", 1)[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


TICK = os.sysconf("SC_CLK_TCK")


def postgres_ticks(postmaster: int) -> int:
    """CPU of the whole cluster: live processes, plus what the postmaster collected from exited ones."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The parent's environment without ``ATS_*``/``BENCH_*``, then the bench's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATS_", "BENCH_"))}
    env.update(
        ATS_DATA_DIR=str(settings.data_dir),
        ATS_DATABASE_URL=str(settings.database_url),
        ATS_S3_ENDPOINT_URL=str(settings.s3_endpoint_url),
        ATS_S3_ACCESS_KEY_ID=str(settings.s3_access_key_id),
        ATS_S3_SECRET_ACCESS_KEY=str(settings.s3_secret_access_key),
        ATS_S3_BUCKET=settings.s3_bucket,
        ATS_LOG_LEVEL="warning",
        ATS_DEMO_ACCOUNT="false",
        ATS_ACCESS_TOKEN_TTL="4h",
        BENCH_DATABASE_URL=conninfo(settings),
    )
    env.update(extra)
    return env


def start_server(
    name: str, target: str, env: dict[str, str], logs: Path, *, factory: bool, health: str = "/health/live"
) -> Server:
    """uvicorn with one worker and its defaults (uvloop and httptools when installed), no access log."""
    port = free_port()
    log = logs / f"{name}.log"
    args = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--log-level", "warning", "--no-access-log", "--no-proxy-headers", *(["--factory"] if factory else [])]
    out = log.open("wb")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(server.base + health, timeout=2)
            return server
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer in 60 s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


@contextlib.contextmanager
def embedded(keep: bool) -> Iterator[tuple[Settings, EmbeddedServices]]:
    """Fresh embedded PostgreSQL and S3 in a temporary ``ATS_DATA_DIR``, migrated, S3 taking writes.

    Both are stopped at the end (SeaweedFS killed outright); the directory is removed unless ``keep``.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="ats-bench-"))
    env = {"ATS_DATA_DIR": str(data_dir), "ATS_EMBEDDED_FAST": "true", "ATS_DEMO_ACCOUNT": "false"}
    started = time.perf_counter()
    settings, services = ensure_services(load_settings(env))
    try:
        assert settings.database_url
        migrate.upgrade(settings.database_url)
        runtime = Runtime.create(settings)
        store = runtime.documents
        # SeaweedFS answers before it accepts writes: wait for a real write.
        wait_for(store.ensure_bucket, timeout=90)
        wait_for(lambda: store.client.put_object(Bucket=settings.s3_bucket, Key="probe", Body=b"x"), 90)
        store.client.delete_object(Bucket=settings.s3_bucket, Key="probe")
        print(f"  embedded PostgreSQL and S3 ready in {time.perf_counter() - started:.1f} s ({data_dir})", flush=True)
        yield settings, services
    finally:
        services.stop(kill_s3=True)
        if keep:
            print(f"\n(data kept in {data_dir})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


async def create_account_and_job(settings: Settings) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An account with its admin (``ADMIN_EMAIL``) and one published posting, through the services."""
    from ats.auth import Principal
    from ats.services import accounts, jobs

    runtime = Runtime.create(settings)
    try:
        async with runtime.transaction() as session:
            account, admin = await accounts.create_account(
                session, "Bench", admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD, admin_name=ADMIN_NAME
            )
            principal = Principal(type="user", id=admin.id, account_id=account.id, role="admin", name=ADMIN_NAME)
            job = await jobs.create_job(
                session,
                principal,
                {"title": "Backend Engineer (Berlin)", "description": "Join us.", "status": "published"},
            )
        return account.id, admin.id, job.id
    finally:
        await runtime.engine.dispose()


def login(base: str) -> str:
    response = httpx.post(base + "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


BenchBody = Callable[[argparse.Namespace, Settings, EmbeddedServices, list[Server], Summary, float], int]


def run_with_services(args: argparse.Namespace, summary: Summary, started: float, body: BenchBody) -> int:
    """Fresh embedded services around ``body``; every server it starts (appended to the list) is stopped."""
    servers: list[Server] = []
    with embedded(args.keep_data) as (settings, services):
        try:
            return body(args, settings, services, servers, summary, started)
        finally:
            for server in servers:
                server.stop()

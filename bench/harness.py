"""What every benchmark shares: services, servers, CPU counters, load runs in alternating rounds,
medians with their spread, in-process statement capture, and the printed summary with its ratios.

Servers: ``python -m uvicorn`` with one worker and its defaults (uvloop and httptools when
installed), no access log, settings as ``ATS_*`` variables; the real app (``ats.app:create_app``)
and the bare baseline (``bench.baseline:app``) get the same environment.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import http.client
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from ats import migrate
from ats.embedded import EmbeddedServices, ensure_services, wait_for
from ats.runtime import Runtime
from ats.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("httpx").setLevel(logging.WARNING)
ADMIN_PASSWORD = "bench correct horse battery"
ADMIN_NAME = "Bench Admin"
POSTING = {"title": "Backend Engineer (Berlin)", "description": "Join us.", "status": "published"}


@dataclass
class Summary:
    """What a benchmark found: named lines, ratios against the bare baseline, and problems."""

    bench: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ratios: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.lines.append((name, value))

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  !! {text}", flush=True)

    def ratio(self, name: str, api: list[float], base: list[float], unit: str, aim: float | None) -> float:
        """API/baseline of the medians, with each side's spread over its rounds; below ``aim`` is a problem."""
        ratio = statistics.median(api) / statistics.median(base) if base and statistics.median(base) else 0.0
        per_round = [a / b for a, b in zip(api, base, strict=False) if b]
        rounds = f", rounds {min(per_round):.2f}..{max(per_round):.2f}" if len(per_round) > 1 else ""
        aims = f"aim ≥ {aim}" if aim is not None else "no aim"
        text = f"{ratio:.2f} ({aims}{rounds}); API {spread(api)}, baseline {spread(base)} {unit}"
        print(f"  ratio API/baseline, {name}: {text}", flush=True)
        self.add(name, text)
        self.ratios.append((f"{self.bench}: {name}", text))
        if aim is not None and ratio < aim:
            self.problem(f"{name}: API/baseline ratio {ratio:.2f} < {aim}")
        return ratio

    def print(self, started: float) -> None:
        section(f"summary: bench {self.bench}")
        width = max([len(k) for k, _ in self.lines] + [len("total run time")])
        for name, value in self.lines:
            print(f"  {name:<{width}}  {value}")
        print(f"  {'total run time':<{width}}  {time.perf_counter() - started:.0f} s")
        if self.problems:
            print("  findings:")
            for p in self.problems:
                print(f"    - {p.splitlines()[0]}")
        sys.stdout.flush()


def spread(values: list[float]) -> str:
    """The median, and the range when there is more than one value."""
    if not values:
        return "?"
    median = statistics.median(values)
    return f"{median:.1f}" + (f" ({min(values):.1f}..{max(values):.1f})" if len(values) > 1 else "")


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def machine_load(summary: Summary, seconds: float = 1.0) -> None:
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
        logging.getLogger("alembic").setLevel(logging.WARNING)  # an earlier app in this process set it to INFO
        # The app runs as the embedded app role; migrations run as the schema owner, which grants it.
        assert settings.database_owner_url
        migrate.upgrade_and_grant(settings.database_url, settings.database_owner_url)
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


async def create_account(
    settings: Settings, jobs: list[dict[str, Any]], email: str
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """An account with its admin (``email``) and ``jobs`` postings, through the services."""
    from ats.auth import Principal
    from ats.services import accounts
    from ats.services import jobs as jobs_service

    runtime = Runtime.create(settings)
    try:
        async with runtime.transaction() as session:
            account, admin = await accounts.create_account(
                session, "Bench", admin_email=email, admin_password=ADMIN_PASSWORD, admin_name=ADMIN_NAME
            )
            principal = Principal(type="user", id=admin.id, account_id=account.id, role="admin", name=ADMIN_NAME)
            job_ids = [(await jobs_service.create_job(session, principal, job)).id for job in jobs]
        return account.id, admin.id, job_ids
    finally:
        await runtime.engine.dispose()


def login(base: str, email: str) -> dict[str, str]:
    """The admin's ``Authorization`` header."""
    response = httpx.post(base + "/api/v1/auth/token", json={"email": email, "password": ADMIN_PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def pool_env(settings: Settings) -> dict[str, str]:
    """The app engine's pool (size and overflow), for the baseline's pool to match."""
    from ats.db import create_engine

    engine = create_engine(str(settings.database_url), pool_size=settings.database_pool_size)
    pool: Any = engine.sync_engine.pool
    return {"BENCH_POOL_SIZE": str(pool.size()), "BENCH_POOL_OVERFLOW": str(pool._max_overflow)}


# ---- in-process: the app's statements ----


@dataclass
class Captured:
    statements: list[tuple[str, Any]]
    status: int
    body: bytes


Request = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body


async def capture(settings: Settings, requests: list[Request], **overrides: Any) -> list[Captured]:
    """Serve the app in this process (``AsyncTestClient``); every statement of each request.

    Captured where every statement passes, whatever sends it (SQLAlchemy, or a compiled statement run on the
    session's psycopg connection): psycopg's ``AsyncCursor.execute``/``executemany``. The pool's pre-ping
    (``;``) is left out, as the baseline's. The first request warms the process up (stages cached, as in a
    long-running server).
    """
    from litestar.testing import AsyncTestClient
    from psycopg import AsyncCursor

    from ats.app import create_app

    app = create_app(dataclasses.replace(settings, log_level="warning", demo_account=False, **overrides))
    out: list[Captured] = []
    current: list[tuple[str, Any]] = []
    # Only the request's own statements: the app's background work (the webhook engine polls every second,
    # sweeps, seals) runs in tasks started before any request, whose context never sees this set.
    in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)
    execute, executemany = AsyncCursor.execute, AsyncCursor.executemany

    async def traced_execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        if query != ";" and in_request.get():
            current.append((query if isinstance(query, str) else repr(query), params))
        return await execute(self, query, params, **kw)

    async def traced_executemany(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
        params_seq = list(params_seq)
        if in_request.get():
            current.append((query if isinstance(query, str) else repr(query), params_seq[0] if params_seq else None))
        return await executemany(self, query, params_seq, **kw)

    async with AsyncTestClient(app=app, timeout=120) as client:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # Litestar's default logging set it to INFO
        AsyncCursor.execute, AsyncCursor.executemany = traced_execute, traced_executemany  # type: ignore[method-assign]
        try:
            for method, path, headers, body in requests:
                current.clear()
                token = in_request.set(True)
                try:
                    response = await client.request(method, path, headers=headers, content=body)
                finally:
                    in_request.reset(token)
                out.append(Captured(list(current), response.status_code, response.content))
        finally:
            AsyncCursor.execute, AsyncCursor.executemany = execute, executemany  # type: ignore[method-assign]
    return out[1:]


def shape(value: Any) -> Any:
    """The JSON's structure: keys and value types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def explain(dsn: str, statement: str, params: Any) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()  # type: ignore[arg-type]
    return "\n".join(r[0] for r in rows)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def exec_time(plan: str) -> str:
    m = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return f"{float(m.group(1)):.2f} ms" if m else "?"


def timed(
    client: httpx.Client, path: str, headers: dict[str, str], samples: int, warmup: int = 2
) -> tuple[list[float], bytes]:
    """``samples`` sequential requests after ``warmup`` ones: their times (ms) and the last body."""
    times = []
    body = b""
    for i in range(samples + warmup):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:500]}")
        body = response.content
        if i >= warmup:
            times.append(elapsed)
    return times, body


# ---- a streamed download, with the server's RSS sampled meanwhile ----

MIB = 1024 * 1024
SAMPLE_EVERY = 0.05


class RssSampler:
    """The server's RSS every 50 ms in a thread, from ``start()`` to ``stop()``."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.rss())
            self._stop.wait(SAMPLE_EVERY)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.samples) if self.samples else 0


@dataclass
class ZipRun:
    bytes: int
    seconds: float
    first_byte: float
    idle_rss: int
    peak_rss: int
    samples: int
    server_cpu: float
    entries: int | None

    @property
    def mib_s(self) -> float:
        return self.bytes / MIB / self.seconds

    @property
    def growth_mib(self) -> float:
        return (self.peak_rss - self.idle_rss) / MIB


def zip_entries(tail: bytes) -> int | None:
    """The entry count in the archive's end-of-central-directory record (ZIP64 aware)."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        return None
    count = int(struct.unpack_from("<H", tail, at + 10)[0])
    if count == 0xFFFF:
        at64 = tail.rfind(b"PK\x06\x06")
        if at64 >= 0:
            count = int(struct.unpack_from("<Q", tail, at64 + 32)[0])
    return count


def export_zip(server: Server, path: str, headers: dict[str, str]) -> ZipRun:
    """One export read in 1 MiB reads and discarded, with the server's RSS sampled meanwhile."""
    sampler = RssSampler(server.pid)
    idle = sampler.rss()
    cpu0 = cpu_ticks(server.pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    buf = bytearray(MIB)
    view = memoryview(buf)
    total = 0
    tail = b""
    sampler.start()
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        first = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"export: {response.status} {response.read()[:500]!r}")
        while n := response.readinto(view):
            total += n
            tail = bytes(view[n - 65536 : n]) if n >= 65536 else (tail + bytes(view[:n]))[-65536:]
        elapsed = time.perf_counter() - started
    finally:
        peak = sampler.stop()
        conn.close()
    cpu = (cpu_ticks(server.pid) - cpu0) / TICK
    return ZipRun(total, elapsed, first, idle, peak, len(sampler.samples), cpu, zip_entries(tail))


# ---- a run: services, servers, load ----


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    postgres_cpu_ms: float
    new_connections: int
    raw: dict[str, Any]


@dataclass
class Run:
    """One benchmark's services and servers (all stopped at the end), and its summary."""

    args: argparse.Namespace
    settings: Settings
    services: EmbeddedServices
    summary: Summary
    servers: list[Server] = field(default_factory=list)

    @property
    def admin_email(self) -> str:
        """One admin per benchmark: benchmarks run one after another may share the services."""
        return f"bench-{self.summary.bench}@example.com"

    @property
    def dsn(self) -> str:
        return conninfo(self.settings)

    @property
    def superuser_dsn(self) -> str:
        """The cluster's superuser (seeding skips foreign-key triggers and rebuilds indexes; ``ALTER SYSTEM``)."""
        assert self.services.postgres is not None
        return "postgresql://" + self.services.postgres.superuser_url.split("://", 1)[1]

    @property
    def pgdata(self) -> Path:
        assert self.services.postgres is not None
        return Path(self.services.postgres.pgdata)

    @property
    def postmaster(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])

    def serve(self, name: str, baseline: bool = False, **env: str) -> Server:
        """The app (``ats.app:create_app``) or the bare baseline, with the bench's settings and ``env``."""
        target = "bench.baseline:app" if baseline else "ats.app:create_app"
        environ = server_env(self.settings, **pool_env(self.settings), **env)
        server = start_server(name, target, environ, Path(str(self.settings.data_dir)), factory=not baseline)
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def load(self, label: str, *, server: Server, path: str, unit: str, extra: list[str]) -> LoadResult:
        """One run of ``bench.load`` against ``server``, with server and PostgreSQL CPU per request."""
        args = self.args
        cmd = [sys.executable, "-m", "bench.load", server.base + path, "--tag", f"{server.name}-{uuid.uuid4().hex[:8]}"]
        cmd += ["-c", str(args.concurrency), "-d", str(args.duration), "-w", str(args.warmup), *extra]
        log = self.pgdata / "server.log"
        offset = log.stat().st_size if log.exists() else 0
        cpu0, pg0 = cpu_ticks(server.pid), postgres_ticks(self.postmaster)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        cpu1, pg1 = cpu_ticks(server.pid), postgres_ticks(self.postmaster)
        if done.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        total = max(1, raw["total"])
        new = count_connections(log, offset) if log.exists() else {}
        result = LoadResult(
            raw["rps"],
            raw["p50_ms"],
            raw["p99_ms"],
            (cpu1 - cpu0) * 1000 / TICK / total,
            (pg1 - pg0) * 1000 / TICK / total,
            new.get("ats-baseline" if server.name.startswith("baseline") else "ats", 0),
            raw,
        )
        bad = (f"  other {raw['other']}" if raw["other"] else "") + (
            f"  errors {raw['errors']}" if raw["errors"] else ""
        )
        print(
            f"  {label:<44} {result.rps:8.1f} {unit}  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
            f"CPU/req: server {result.server_cpu_ms:5.2f} ms, PostgreSQL {result.postgres_cpu_ms:5.2f} ms  "
            f"new PG connections {result.new_connections}{bad}",
            flush=True,
        )
        return result

    def rounds(self, runs: dict[str, Callable[[str], LoadResult]]) -> dict[str, list[LoadResult]]:
        """``args.rounds`` rounds, each running every entry once, in turn (API and baseline alternate)."""
        out: dict[str, list[LoadResult]] = {name: [] for name in runs}
        for r in range(self.args.rounds):
            for name, run in runs.items():
                out[name].append(run(f"{name:<9} round {r + 1}"))
        return out


def count_connections(pg_log: Path, offset: int) -> dict[str, int]:
    """New PostgreSQL sessions since ``offset`` in the server log, by application name."""
    counts: dict[str, int] = {}
    with pg_log.open("rb") as f:
        f.seek(offset)
        for line in f:
            if b"connection authorized" in line:
                m = re.search(rb"application_name=(\S+)", line)
                name = m.group(1).decode() if m else "?"
                counts[name] = counts.get(name, 0) + 1
    return counts


def add_load_options(parser: argparse.ArgumentParser, rounds: int) -> None:
    parser.add_argument("--concurrency", type=int, default=16, help="load generator workers (default 16)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=rounds, help=f"API/baseline rounds, alternating (default {rounds})"
    )


def run(name: str, args: argparse.Namespace, headline: str, body: Callable[[Run], None]) -> Summary:
    """Fresh embedded services around ``body``; every server it started is stopped; the summary printed."""
    summary = Summary(name)
    started = time.perf_counter()
    print(f"bench {name}: {os.cpu_count()} CPUs; Python {platform.python_version()}; {headline}", flush=True)
    machine_load(summary)
    section("services")
    shared = getattr(args, "shared", None)  # ``python -m bench`` runs every benchmark on one set of services
    with contextlib.nullcontext(shared) if shared else embedded(args.keep_data) as (settings, services):
        bench = Run(args, settings, services, summary)
        try:
            body(bench)
        finally:
            for server in list(bench.servers):
                server.stop()
    summary.print(started)
    return summary

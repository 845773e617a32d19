"""``python -m bench apply``: public applies per second (§6, two documents) against a bare baseline.

Steps (each prints what it measured; a summary block closes the run):

1. fresh embedded PostgreSQL and S3 in a temporary ``ATS_DATA_DIR``, migrations, an account with its
   admin and one published posting through the real services;
2. in-process (``AsyncTestClient``): the statements of one apply captured with a
   ``before_cursor_execute`` listener and compared one by one with ``bench.apply_baseline``'s;
3. the real app (``ats.app:create_app``, ``ATS_PUBLIC_RATE_LIMIT=10000000``) and
   ``bench.apply_baseline`` served by uvicorn with the same settings, each in its own process; one
   apply to each: both ``201``, the same JSON shape, the baseline's rows all there;
4. throughput: a closed-loop load generator in its own process (``python -m bench.apply_bench load``):
   N keep-alive workers POST ``/public/v1/applicants?include=applicant_documents`` (a pdf and a docx,
   a new email each time) for a fixed time after a warm-up; API and baseline alternate for
   ``--rounds`` rounds, with server and PostgreSQL CPU per apply;
5. diagnostic: the baseline without its ``HeadBucket`` (what the S3 check, one per
   ``STORAGE_CHECK_MAX_AGE`` s, still costs);
6. the account's audit chain verified through the API (the baseline writes into the same chain).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import psycopg
from ats.api.public_apply import STORAGE_CHECK_MAX_AGE

from ats.embedded import EmbeddedServices
from ats.settings import Settings

from . import apply_baseline
from .harness import (
    ROOT,
    TICK,
    Server,
    Summary,
    conninfo,
    cpu_ticks,
    create_account_and_job,
    login,
    machine_load,
    postgres_ticks,
    run_with_services,
    section,
    server_env,
    start_server,
)

PATH = "/public/v1/applicants?include=applicant_documents"
CONTENT_TYPE = "application/vnd.api+json"
RATE_LIMIT = "10000000"
EMAIL_SLOT = "EMAILSLOT"
AIM = 0.6


def apply_body(job_id: uuid.UUID | str, email: str) -> bytes:
    """The request: a name, an email, the posting, consent, and two documents (pdf and docx)."""
    return msgspec.json.encode(
        {
            "data": {
                "type": "applicant",
                "attributes": {
                    "name": "Jane Applicant",
                    "email": email,
                    "job_posting_id": str(job_id),
                    "phone": "+49 30 1234567",
                    "source": "website",
                    "documents": [
                        {"extension": "pdf", "name": "Resume", "type": "cv"},
                        {"extension": "docx", "name": "Cover letter", "type": "cover_letter"},
                    ],
                    "consent": {"privacy_policy": True, "privacy_policy_version": "2025-01", "talent_pool": False},
                },
            }
        }
    )


# ---- the load generator (its own process) ----


@dataclass
class Tally:
    measure_from: float
    measure_to: float
    ok: int = 0
    other: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    total: int = 0  # every completed response, warm-up included (for CPU per apply)

    def record(self, started: float, status: int) -> None:
        done = time.perf_counter()
        self.total += 1
        if not self.measure_from <= done <= self.measure_to:
            return
        if status == 201:
            self.ok += 1
            self.latencies.append(done - started)
        else:
            self.other[status] = self.other.get(status, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append((await reader.readexactly(size + 2))[:-2])
            if size == 0:
                return status, b"".join(parts)
    return status, await reader.readexactly(length)


async def _worker(url: str, template: bytes, tag: str, index: int, stop_at: float, tally: Tally) -> None:
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Accept: {CONTENT_TYPE}\r\nContent-Length: "
    ).encode()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    n = 0
    try:
        while time.perf_counter() < stop_at:
            n += 1
            body = template.replace(EMAIL_SLOT.encode(), f"{tag}.{index}.{n}".encode())
            started = time.perf_counter()
            try:
                writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status, _ = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                continue
            tally.record(started, status)
    finally:
        writer.close()


async def run_load(url: str, job_id: str, tag: str, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    template = apply_body(job_id, f"{EMAIL_SLOT}@bench.example")
    start = time.perf_counter()
    tally = Tally(start + warmup, start + warmup + duration)
    await asyncio.gather(*(_worker(url, template, tag, i, tally.measure_to, tally) for i in range(concurrency)))
    lat = sorted(tally.latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

    return {
        "ok": tally.ok,
        "total": tally.total,
        "rps": round(tally.ok / duration, 1),
        "other": tally.other,
        "errors": tally.errors,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
    }


def load_main(argv: list[str]) -> int:
    """``python -m bench.apply_bench load URL --job ID --tag T -c N -d S -w S``: one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.apply_bench load")
    parser.add_argument("url")
    parser.add_argument("--job", required=True)
    parser.add_argument("--tag", required=True, help="makes every email of this run unique")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=15.0)
    parser.add_argument("-w", "--warmup", type=float, default=3.0)
    args = parser.parse_args(argv)
    work = run_load(args.url, args.job, args.tag, args.concurrency, args.duration, args.warmup)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    print(json.dumps(result))
    return 0


# ---- measurements ----


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    postgres_cpu_ms: float
    raw: dict[str, Any]


def measure(label: str, server: Server, job_id: uuid.UUID, args: argparse.Namespace, postmaster: int) -> LoadResult:
    tag = f"{server.name}-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "bench.apply_bench", "load", server.base + PATH, "--job", str(job_id)]
    cmd += ["--tag", tag, "-c", str(args.concurrency), "-d", str(args.duration), "-w", str(args.warmup)]
    cpu0, pg0 = cpu_ticks(server.pid), postgres_ticks(postmaster)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    cpu1, pg1 = cpu_ticks(server.pid), postgres_ticks(postmaster)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    total = max(1, raw["total"])
    result = LoadResult(
        raw["rps"],
        raw["p50_ms"],
        raw["p99_ms"],
        (cpu1 - cpu0) * 1000 / TICK / total,
        (pg1 - pg0) * 1000 / TICK / total,
        raw,
    )
    extra = f"  other {raw['other']}" if raw["other"] else ""
    extra += f"  errors {raw['errors']}" if raw["errors"] else ""
    print(
        f"  {label:<30} {result.rps:8.1f} applies/s  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
        f"CPU/apply: server {result.server_cpu_ms:5.2f} ms, PostgreSQL {result.postgres_cpu_ms:5.2f} ms{extra}",
        flush=True,
    )
    return result


def pool_sizes(settings: Settings) -> dict[str, str]:
    """The app engine's pool (size and overflow), for the baseline's pool to match."""
    from ats.db import create_engine

    engine = create_engine(str(settings.database_url), pool_size=settings.database_pool_size)
    pool: Any = engine.sync_engine.pool
    return {"BENCH_POOL_SIZE": str(pool.size()), "BENCH_POOL_OVERFLOW": str(pool._max_overflow)}


def normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


async def capture_statements(settings: Settings, job_id: uuid.UUID) -> list[tuple[str, Any]]:
    """Serve the app in this process; the statements of one apply (after a warm-up apply)."""
    from litestar.testing import AsyncTestClient
    from sqlalchemy import event

    from ats.app import create_app
    from ats.plugin import app_runtime

    app = create_app(
        dataclasses.replace(settings, log_level="warning", demo_account=False, public_rate_limit=int(RATE_LIMIT))
    )
    headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
    current: list[tuple[str, Any]] = []
    async with AsyncTestClient(app=app, timeout=60) as client:
        engine = app_runtime(app).engine

        def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            current.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", listen)
        for i in range(2):
            current.clear()
            response = await client.post(PATH, content=apply_body(job_id, f"capture{i}@bench.example"), headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"in-process apply: {response.status_code} {response.text[:1000]}")
        event.remove(engine.sync_engine, "before_cursor_execute", listen)
    return list(current)


def shape(value: Any) -> Any:
    """The JSON's structure: keys and value types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def check_responses(api: Server, base: Server, job_id: uuid.UUID, dsn: str, summary: Summary) -> bool:
    headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
    bodies = {}
    with httpx.Client(timeout=30) as client:
        for server in (api, base):
            body = apply_body(job_id, f"check-{server.name}@bench.example")
            response = client.post(server.base + PATH, content=body, headers=headers)
            if response.status_code != 201:
                summary.problem(f"{server.name}: {response.status_code} {response.text[:500]}")
                return False
            bodies[server.name] = response.json()
            print(
                f"  {server.name:<9} 201, {len(response.content)} bytes, content-type "
                f"{response.headers.get('content-type')}"
            )
    same = shape(bodies[api.name]) == shape(bodies[base.name])
    print(f"  same JSON shape (keys and value types): {same}")
    if not same:
        summary.problem("the API and the baseline answer in different shapes")
        print(json.dumps(shape(bodies[api.name]), indent=1))
        print(json.dumps(shape(bodies[base.name]), indent=1))
    app_id = {name: uuid.UUID(b["data"]["id"]) for name, b in bodies.items()}
    with psycopg.connect(dsn) as conn:
        for name, aid in app_id.items():
            row = conn.execute(
                "SELECT (SELECT count(*) FROM status_history WHERE application_id = %(a)s),"
                " (SELECT count(*) FROM documents WHERE application_id = %(a)s AND upload_status = 'uploading'),"
                " (SELECT count(*) FROM audit_events WHERE object_id = %(a)s AND action = 'application.created')",
                {"a": aid},
            ).fetchone()
            print(f"  {name:<9} rows: history {row[0]}, documents {row[1]}, audit events {row[2]}")
            if row != (1, 2, 1):
                summary.problem(f"{name}: unexpected rows for one apply: {row}")
                same = False
    return same


# ---- the run ----


def run(args: argparse.Namespace) -> int:
    summary = Summary()
    started = time.perf_counter()
    print(
        f"bench apply: {os.cpu_count()} CPUs; Python {platform.python_version()}; load: bench.apply_bench load "
        f"c={args.concurrency} {args.warmup:g}s warm-up + {args.duration:g}s, {args.rounds} round(s)",
        flush=True,
    )
    machine_load(summary)
    section("services")
    return run_with_services(args, summary, started, _run)


def _run(
    args: argparse.Namespace,
    settings: Settings,
    services: EmbeddedServices,
    servers: list[Server],
    summary: Summary,
    started: float,
) -> int:
    assert services.postgres is not None
    dsn = conninfo(settings)
    account_id, _, job_id = asyncio.run(create_account_and_job(settings))
    print(f"  account {account_id}, posting {job_id}")
    postmaster = int((services.postgres.pgdata / "postmaster.pid").read_text().split()[0])

    section("statements of one apply (in-process, before_cursor_execute)")
    captured = asyncio.run(capture_statements(settings, job_id))
    for sql, params in captured:
        many = f"  x {len(params)} (executemany)" if isinstance(params, list) else ""
        print(f"    · {normalise(sql)[:150]}{' …' if len(normalise(sql)) > 150 else ''}{many}")
    got = [normalise(sql) for sql, _ in captured]
    want = [normalise(sql) for sql in apply_baseline.STATEMENTS]
    same_sql = got == want
    if not same_sql:
        for i, (a, b) in enumerate(zip(got, want, strict=False)):
            if a != b:
                summary.problem(f"statement {i + 1} differs:\n  app:      {a}\n  baseline: {b}")
                break
        else:
            summary.problem(f"the app runs {len(got)} statements, the baseline {len(want)}")
    print(f"  {len(got)} statements; the baseline runs the same ones in the same order: {'yes' if same_sql else 'NO'}")
    summary.add(
        "statements per apply", f"{len(got)}; baseline SQL identical to the app's: {'yes' if same_sql else 'NO'}"
    )

    section("servers")
    logs = Path(str(settings.data_dir))
    env = server_env(
        settings,
        ATS_PUBLIC_RATE_LIMIT=RATE_LIMIT,
        BENCH_S3_CHECK_MAX_AGE=str(STORAGE_CHECK_MAX_AGE),
        **pool_sizes(settings),
    )
    api = start_server("api", "ats.app:create_app", env, logs, factory=True)
    servers.append(api)
    base = start_server("baseline", "bench.apply_baseline:app", env, logs, factory=False)
    servers.append(base)
    print(
        f"  api {api.base}  baseline {base.base}  (both pools: {env['BENCH_POOL_SIZE']} connections "
        f"+ {env['BENCH_POOL_OVERFLOW']} overflow, a ping at each checkout)"
    )

    section("one apply each: API vs baseline")
    consistent = check_responses(api, base, job_id, dsn, summary)
    summary.add("API and baseline answers", "same shape, same rows" if consistent else "DIFFER")

    section(f"throughput (c={args.concurrency}, {args.warmup:g}s warm-up + {args.duration:g}s per run)")
    api_runs: list[LoadResult] = []
    base_runs: list[LoadResult] = []
    for r in range(args.rounds):
        api_runs.append(measure(f"API       round {r + 1}", api, job_id, args, postmaster))
        base_runs.append(measure(f"baseline  round {r + 1}", base, job_id, args, postmaster))
    api_rps = statistics.fmean(x.rps for x in api_runs)
    base_rps = statistics.fmean(x.rps for x in base_runs)
    ratio = api_rps / base_rps if base_rps else 0.0
    print(f"  mean: API {api_rps:.1f} applies/s, baseline {base_rps:.1f} applies/s")
    print(f"  ratio API/baseline: {ratio:.2f}  (aim ≥ {AIM})")
    summary.add(
        "applies/s (2 documents)",
        f"API {api_rps:.0f}, baseline {base_rps:.0f}, ratio {ratio:.2f} (aim ≥ {AIM})",
    )
    if ratio < AIM:
        summary.problem(f"API/baseline ratio {ratio:.2f} < {AIM}")
    for name, runs in (("api", api_runs), ("baseline", base_runs)):
        summary.add(
            f"  {name}: per apply",
            f"server CPU {statistics.fmean(x.server_cpu_ms for x in runs):.2f} ms, "
            f"PostgreSQL CPU {statistics.fmean(x.postgres_cpu_ms for x in runs):.2f} ms, "
            f"p50 {statistics.fmean(x.p50_ms for x in runs):.1f} ms, "
            f"p99 {statistics.fmean(x.p99_ms for x in runs):.1f} ms",
        )
    base.stop()
    servers.remove(base)

    section(f"diagnostic: the baseline without the HeadBucket check (else one per {STORAGE_CHECK_MAX_AGE:g} s)")
    noping = start_server(
        "baseline-noping", "bench.apply_baseline:app", {**env, "BENCH_S3_PING": "0"}, logs, factory=False
    )
    servers.append(noping)
    np_run = measure("baseline, no S3 check", noping, job_id, args, postmaster)
    noping.stop()
    servers.remove(noping)
    summary.add(
        "  baseline without HeadBucket",
        f"{np_run.rps:.0f} applies/s, server CPU {np_run.server_cpu_ms:.2f} ms per apply: the HeadBucket "
        f"(cached {STORAGE_CHECK_MAX_AGE:g} s) takes {1 - base_rps / np_run.rps:.1%} of the baseline's rate"
        if np_run.rps
        else "no result",
    )

    section("audit chain (API and baseline events interleaved in one account)")
    token = login(api.base)
    verify = httpx.get(
        api.base + "/api/v1/audit-events/verify", headers={"Authorization": f"Bearer {token}"}, timeout=300
    )
    result = verify.json()
    result = result["data"] if verify.status_code == 200 else {"error": result}
    print(f"  {verify.status_code} {result}")
    ok = verify.status_code == 200 and result.get("ok") is True
    if not ok:
        summary.problem(f"the audit chain does not verify: {result}")
    with psycopg.connect(dsn) as conn:
        applications = conn.execute("SELECT count(*) FROM applications").fetchone()
    summary.add(
        "audit chain after the run",
        f"{'ok' if ok else 'BROKEN'}, {result.get('checked')} events; "
        f"{applications[0] if applications else '?'} applications",
    )

    summary.print(started)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=16, help="load generator workers (default 16)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="API/baseline rounds, alternating (default 2)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")


def main(args: argparse.Namespace) -> int:
    return run(args)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        sys.exit(load_main(sys.argv[2:]))
    cli = argparse.ArgumentParser(prog="python -m bench.apply_bench", description=__doc__)
    add_arguments(cli)
    sys.exit(main(cli.parse_args()))

"""``python -m bench list``: the applications list (§5) on a large account, against a bare baseline.

Steps (each prints what it measured; a summary block closes the run):

1. fresh embedded PostgreSQL and S3 in a temporary ``ATS_DATA_DIR``, migrations, an account with
   its admin and 50 postings through the real services, then ``--rows`` applications seeded with
   set-based SQL (``bench.seed``);
2. the real app (``ats.app:create_app``) and ``bench.baseline_app`` served by uvicorn with the same
   settings, each in its own process;
3. in-process (``AsyncTestClient``): the statements of one list request captured with a
   ``before_cursor_execute`` listener, counted at per_page 1, 20 and 100, and compared one by one
   with the statements the baseline runs; then both servers must answer byte-identical JSON;
4. throughput: a closed-loop load generator in its own process (``bench.load``; ``wrk`` when it is
   installed) against both, with server CPU per request and new PostgreSQL connections per run;
5. deep paging: page 1 vs page 10,000 through ``cursor`` (built from the row before that page, found
   with SQL) vs the same page through ``OFFSET``;
6. search for a rare name, with ``EXPLAIN (ANALYZE, BUFFERS)`` of its statements.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import psycopg

from ats import migrate
from ats.embedded import EmbeddedServices
from ats.settings import Settings

from . import baseline_app, seed
from .harness import (
    ROOT,
    Server,
    Summary,
    cpu_ticks,
    postgres_ticks,
    run_with_services,
    section,
    server_env,
    start_server,
)

API = "/api/v1/applications"
FILTERED = {"status": "interview", "orderby": "date", "order": "desc", "per_page": "20"}
DEEP_PAGE = 10_000
PER_PAGE = 20
# The pieces of one request measured in-process (``cpu_breakdown``).
AUTH_ALONE = "app: token lookup alone (session, checkout, ping, lookup)"
AUTH_AND_LIST = "app: token lookup + list service in one session (commit)"
ENCODE = "app: encode the page (Litestar encoder)"
BASELINE_ALL = "baseline: token lookup + list + encode"


def _q(params: dict[str, str]) -> str:
    return API + "?" + urlencode(params)


# ---- processes ----


def pool_sizes(settings: Settings) -> dict[str, str]:
    """The app engine's pool (size and overflow), for the baseline's pool to match."""
    from ats.db import create_engine

    engine = create_engine(str(settings.database_url), pool_size=settings.database_pool_size)
    pool: Any = engine.sync_engine.pool
    return {"BENCH_POOL_SIZE": str(pool.size()), "BENCH_POOL_OVERFLOW": str(pool._max_overflow)}


# ---- the in-process part: statements, counts, the baseline's statements ----


@dataclass
class Captured:
    statements: list[tuple[str, Any]]
    status: int
    body: bytes


async def in_process(
    settings: Settings, token: str, urls: dict[str, str]
) -> tuple[dict[str, Captured], dict[int, int]]:
    """Serve the app in this process; capture every statement of each request in ``urls``."""
    from litestar.testing import AsyncTestClient
    from sqlalchemy import event

    from ats.app import create_app
    from ats.plugin import app_runtime

    app = create_app(dataclasses.replace(settings, log_level="warning", demo_account=False))
    headers = {"Authorization": f"Bearer {token}"}
    captured: dict[str, Captured] = {}
    counts: dict[int, int] = {}
    async with AsyncTestClient(app=app, timeout=120) as client:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # Litestar's default logging set it to INFO
        engine = app_runtime(app).engine
        current: list[tuple[str, Any]] = []

        def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            current.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", listen)
        # Warm up: stages are cached per process after the first read, as in a long-running server.
        await client.get(_q(FILTERED), headers=headers)
        for name, url in urls.items():
            current.clear()
            response = await client.get(url, headers=headers)
            captured[name] = Captured(list(current), response.status_code, response.content)
        for per_page in (1, 20, 100):
            current.clear()
            response = await client.get(_q({**FILTERED, "per_page": str(per_page)}), headers=headers)
            assert response.status_code == 200, response.text
            counts[per_page] = len(current)
        event.remove(engine.sync_engine, "before_cursor_execute", listen)
    return captured, counts


async def cpu_breakdown(settings: Settings, token: str, url: str, iterations: int) -> dict[str, float]:
    """CPU of this process per call (ms), sequential, for the pieces of one request, app vs baseline."""
    from ats.api.paging import page_meta
    from ats.api.schemas import Many
    from litestar.serialization import encode_json

    from ats.runtime import Runtime
    from ats.services import application_views, logins

    query = urlsplit(url).query
    runtime = Runtime.create(settings)
    baseline = baseline_app.Baseline()
    baseline.pool = baseline_app.AsyncConnectionPool(
        seed.conninfo(settings), min_size=1, max_size=2, check=baseline_app._ping, open=False
    )
    await baseline.pool.open(wait=True)
    scope = {"headers": [(b"authorization", f"Bearer {token}".encode())], "query_string": query.encode()}
    try:
        wanted = baseline_app.parse_query(query.encode())
        filters = application_views.ApplicationFilters(
            statuses=wanted.statuses, orderby=wanted.orderby, order=wanted.order, per_page=wanted.per_page
        )

        async def authenticate() -> Any:
            async with runtime.sessions() as session:
                return await logins.authenticate(session, token)

        async def auth_and_list() -> Any:
            # As a request runs it: the middleware's session, its token lookup, the list in it, commit.
            async with runtime.sessions() as session:
                principal = await logins.authenticate(session, token)
                assert principal is not None
                page = await application_views.list_applications(session, principal, filters, api_base="/api/v1")
                await session.commit()
            return page

        page = await auth_and_list()

        async def encode() -> Any:
            return encode_json(Many(page.views, page_meta(page.total, page.page, page.per_page, page.next_cursor)))

        async def baseline_auth() -> Any:
            assert baseline.pool is not None
            async with baseline.pool.connection() as conn:
                found = await baseline.authenticate(conn, scope)
                await conn.rollback()
            return found

        async def baseline_all() -> Any:
            return await baseline.list_applications(scope)

        pieces = {
            AUTH_ALONE: authenticate,
            AUTH_AND_LIST: auth_and_list,
            ENCODE: encode,
            "baseline: token lookup alone (checkout, ping, lookup)": baseline_auth,
            BASELINE_ALL: baseline_all,
        }
        out = {}
        for name, piece in pieces.items():
            for _ in range(max(10, iterations // 10)):
                await piece()
            started = time.process_time()
            for _ in range(iterations):
                await piece()
            out[name] = (time.process_time() - started) * 1000 / iterations
        return out
    finally:
        await baseline.pool.close()
        await runtime.engine.dispose()


def baseline_statements(url: str, account_id: uuid.UUID, page_ids: list[uuid.UUID]) -> list[tuple[str, Any]]:
    """What the baseline runs for ``url`` (after its stages are cached)."""
    filters = baseline_app.parse_query(urlsplit(url).query.encode())
    q = baseline_app.list_statements(filters, account_id)
    out: list[tuple[str, Any]] = [(baseline_app.AUTH_SQL, None)]
    if q.count_sql is not None:  # a cursor page carries its total: no count
        out.append((q.count_sql, q.count_params))
    out.append((q.page_sql, q.page_params))
    if page_ids:
        out.append((baseline_app.RELATED, {"ids": page_ids}))
    return out


def list_queries(statements: list[tuple[str, Any]]) -> dict[str, tuple[str, Any]]:
    """The count (absent on a cursor page) and the page statement of one captured request."""
    out = {}
    for sql, params in statements:
        if sql.startswith(baseline_app.COUNT_SELECT):
            out["count"] = (sql, params)
        elif " AS sort_key \nFROM applications JOIN job_postings" in sql:
            out["page"] = (sql, params)
    return out


def compare_statements(name: str, url: str, got: Captured, account_id: uuid.UUID, summary: Summary) -> bool:
    page_ids = [uuid.UUID(v["id"]) for v in json.loads(got.body)["data"]]
    expected = baseline_statements(url, account_id, page_ids)
    if len(expected) != len(got.statements):
        summary.problem(f"{name}: the app ran {len(got.statements)} statements, the baseline runs {len(expected)}")
        return False
    for i, ((sql, params), (want_sql, want_params)) in enumerate(zip(got.statements, expected, strict=True)):
        if sql != want_sql:
            summary.problem(f"{name}: statement {i + 1} differs from the baseline's:\n{sql!r}\n{want_sql!r}")
            return False
        if want_params is not None and dict(params) != want_params:
            summary.problem(f"{name}: parameters of statement {i + 1} differ: {params!r} != {want_params!r}")
            return False
    return True


# ---- measuring ----


def load(url: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk"):
        return load_wrk(url, token, args)
    command = [sys.executable, "-m", "bench.load", url, "--header", f"Authorization: Bearer {token}"]
    command += ["-c", str(args.concurrency), "-d", str(args.duration), "-w", str(args.warmup)]
    command += ["--client", args.client]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def load_wrk(url: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    header = ["-H", f"Authorization: Bearer {token}"]
    threads = str(min(2, args.concurrency))
    warm = ["wrk", "-t", threads, "-c", str(args.concurrency), "-d", f"{args.warmup}s", *header, url]
    subprocess.run(warm, capture_output=True, check=True)
    command = ["wrk", "-t", threads, "-c", str(args.concurrency), "-d", f"{args.duration}s", "--latency"]
    out = subprocess.run([*command, *header, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)

    def ms(m: re.Match[str] | None) -> float:
        if m is None:
            return 0.0
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(unit, 1.0)

    return {
        "client": "wrk",
        "rps": rps,
        "other": {"non-2xx": int(non2xx.group(1))} if non2xx else {},
        "errors": 0,
        "p50_ms": ms(p50),
        "p99_ms": ms(p99),
        "total": None,
    }


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


@dataclass
class LoadResult:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float | None
    postgres_cpu_ms: float | None
    new_connections: int
    bad: str

    def line(self) -> str:
        cpu = f"{self.server_cpu_ms:5.2f}" if self.server_cpu_ms is not None else "    ?"
        pg = f"{self.postgres_cpu_ms:5.2f}" if self.postgres_cpu_ms is not None else "    ?"
        return (
            f"{self.label:<44} {self.rps:8.1f} req/s  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms"
            f"  server CPU {cpu} ms/req  PostgreSQL CPU {pg} ms/req  new PG connections {self.new_connections}"
            + (f"  {self.bad}" if self.bad else "")
        )


def measure(label: str, server: Server, path: str, token: str, args: argparse.Namespace, pg: PgInfo) -> LoadResult:
    offset = pg.log.stat().st_size
    server_before, pg_before = cpu_ticks(server.process.pid), postgres_ticks(pg.postmaster)
    result = load(server.base + path, token, args)
    server_after, pg_after = cpu_ticks(server.process.pid), postgres_ticks(pg.postmaster)
    total = result.get("total")
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    server_cpu = (server_after - server_before) * tick_ms / total if total else None
    pg_cpu = (pg_after - pg_before) * tick_ms / total if total else None
    connections = count_connections(pg.log, offset).get(pg.app_names.get(server.name, "ats"), 0)
    bad = ""
    if result.get("other") or result.get("errors"):
        bad = f"non-200: {result.get('other')} errors: {result.get('errors')}"
    out = LoadResult(label, result["rps"], result["p50_ms"], result["p99_ms"], server_cpu, pg_cpu, connections, bad)
    print("  " + out.line(), flush=True)
    return out


def timed(client: httpx.Client, path: str, headers: dict[str, str], samples: int) -> tuple[float, bytes]:
    """Median wall time (ms) of ``samples`` sequential requests, after two warm-up requests."""
    times = []
    body = b""
    for i in range(samples + 2):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:500]}")
        body = response.content
        if i >= 2:
            times.append(elapsed)
    return statistics.median(times), body


def explain(dsn: str, statement: str, params: Any) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()  # type: ignore[arg-type]
    return "\n".join(r[0] for r in rows)


def exec_time(plan: str) -> str:
    m = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return f"{float(m.group(1)):.2f} ms" if m else "?"


def indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


@dataclass
class PgInfo:
    dsn: str
    log: Path
    postmaster: int
    app_names: dict[str, str]


# ---- the run ----


def run(args: argparse.Namespace) -> int:
    summary = Summary()
    started = time.perf_counter()
    print(
        f"bench list: {args.rows:,} applications; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"load: {'wrk' if shutil.which('wrk') else 'bench.load (' + args.client + ')'} "
        f"c={args.concurrency} {args.warmup:g}s warm-up + {args.duration:g}s",
        flush=True,
    )
    return run_with_services(args, summary, started, _run)


def _run(
    args: argparse.Namespace,
    settings: Settings,
    services: EmbeddedServices,
    servers: list[Server],
    summary: Summary,
    started: float,
) -> int:
    assert settings.database_url and services.postgres is not None
    dsn = seed.conninfo(settings)

    section("seed")
    t = time.perf_counter()
    migrate.upgrade(settings.database_url)
    account_id, admin_id, job_ids = asyncio.run(seed.create_account_and_jobs(settings))
    print(f"  account, admin and {len(job_ids)} postings through the services: {time.perf_counter() - t:.1f} s")
    seeded = seed.seed_applications(dsn, account_id, admin_id, job_ids, args.rows)
    with psycopg.connect(dsn, autocommit=True) as conn:
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('applications'))").fetchone()
        # Count new sessions per run (SQLAlchemy's overflow connections are opened and closed per use).
        conn.execute("ALTER SYSTEM SET log_connections = 'authorization'")
        conn.execute("SELECT pg_reload_conf()")
        # A posting of median size, for a filter whose count is small.
        median_job = conn.execute(
            "SELECT job_id FROM applications WHERE account_id = %s GROUP BY job_id ORDER BY count(*), job_id "
            "OFFSET %s LIMIT 1",
            (account_id, len(job_ids) // 2),
        ).fetchone()
    print(f"  seeded in {seeded.total_seconds:.1f} s; applications table with indexes: {size[0] if size else '?'}")
    summary.add(
        "seed",
        f"{seeded.rows:,} applications + {sum(seeded.counts.values()) - seeded.rows:,} "
        f"related rows in {seeded.total_seconds:.1f} s",
    )
    pg_log = services.postgres.pgdata / "server.log"
    postmaster = int((services.postgres.pgdata / "postmaster.pid").read_text().split()[0])
    pg = PgInfo(dsn, pg_log, postmaster, {"api": "ats", "api-pool": "ats", "baseline": "ats-baseline"})

    section("servers")
    logs = Path(str(settings.data_dir))
    env = server_env(settings, **pool_sizes(settings))
    api = start_server("api", "ats.app:create_app", env, logs, factory=True)
    servers.append(api)
    base = start_server("baseline", "bench.baseline_app:app", env, logs, factory=False)
    servers.append(base)
    print(
        f"  api {api.base}  baseline {base.base}  (both pools: {env['BENCH_POOL_SIZE']} connections "
        f"+ {env['BENCH_POOL_OVERFLOW']} overflow, a ping at each checkout)"
    )
    login = httpx.post(
        api.base + "/api/v1/auth/token", json={"email": seed.ADMIN_EMAIL, "password": seed.ADMIN_PASSWORD}
    )
    login.raise_for_status()
    token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    # Deep page: the cursor of page DEEP_PAGE is built from the last row of the page before it.
    deep_page = min(DEEP_PAGE, max(2, args.rows // PER_PAGE // 2))
    # The cursor carries the total counted on page 1 (cursor pages do not recount).
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT id, created_at FROM applications WHERE account_id = %s "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            (account_id, (deep_page - 1) * PER_PAGE - 1),
        ).fetchone()
        counted = conn.execute("SELECT count(*) FROM applications WHERE account_id = %s", (account_id,)).fetchone()
    assert row is not None and counted is not None
    from ats.services.cursor import Cursor, encode_cursor

    cursor = encode_cursor(Cursor("date", "desc", row[1].isoformat(), row[0], deep_page, int(counted[0])))
    unfiltered = {"orderby": "date", "order": "desc", "per_page": str(PER_PAGE)}
    urls = {
        "filtered page 1": _q(FILTERED),
        "job + status page 1": _q({"job_id": str(median_job[0]) if median_job else "", **FILTERED}),
        "page 1 (all)": _q(unfiltered),
        f"page {deep_page} by cursor": _q({**unfiltered, "cursor": cursor}),
        f"page {deep_page} by OFFSET": _q({**unfiltered, "page": str(deep_page)}),
        "search": _q({"search": seed.RARE_SEARCH, **unfiltered}),
    }

    section("statements per request (in-process, before_cursor_execute)")
    captured, counts = asyncio.run(in_process(settings, token, urls))
    for per_page, n in counts.items():
        print(f"  per_page={per_page:<3} → {n} statements")
    bounded = len(set(counts.values())) == 1
    if not bounded:
        summary.problem(f"statements per page grow with the page size: {counts}")
    cursor_statements = len(captured[f"page {deep_page} by cursor"].statements)
    summary.add(
        "statements per list request",
        ", ".join(f"per_page={k}: {v}" for k, v in counts.items())
        + (" (bounded)" if bounded else " (NOT bounded)")
        + f"; a cursor page: {cursor_statements} (no count)",
    )
    first = captured["filtered page 1"]
    print("  one request (filtered page 1), as SQLAlchemy sends it:")
    for sql, params in first.statements:
        brief = {k: (str(v)[:40] if not isinstance(v, int) else v) for k, v in dict(params).items()}
        print(indent(sql.replace("\n", " ")[:220] + (" …" if len(sql) > 220 else ""), "    · "))
        print(f"        {brief}" if len(brief) < 6 else f"        ({len(brief)} parameters)")
    for name, got in captured.items():
        print(f"  {name:<28} {len(got.statements)} statements")
    same_sql = all(compare_statements(name, urls[name], got, account_id, summary) for name, got in captured.items())
    print(f"  baseline runs the same statements for all {len(urls)} requests: {'yes' if same_sql else 'NO'}")
    summary.add("baseline SQL identical to the app's", "yes" if same_sql else "NO")

    logging.getLogger("httpx").setLevel(logging.WARNING)
    section("CPU per call in this process, sequential (where the server's time goes)")
    pieces = asyncio.run(cpu_breakdown(settings, token, urls["filtered page 1"], args.iterations))
    for name, ms in pieces.items():
        print(f"  {name:<56} {ms:6.2f} ms")
    section("responses: API vs baseline")
    identical = True
    with httpx.Client(timeout=120) as client:
        for name, path in urls.items():
            a = client.get(api.base + path, headers=headers)
            b = client.get(base.base + path, headers=headers)
            equal = a.status_code == b.status_code == 200 and json.loads(a.content) == json.loads(b.content)
            same_bytes = a.content == b.content
            identical &= equal
            print(f"  {name:<28} {len(a.content):>7} bytes  equal JSON: {equal}  identical bytes: {same_bytes}")
            if not equal:
                summary.problem(f"{name}: API and baseline answers differ ({a.status_code}/{b.status_code})")
    summary.add("API and baseline JSON equal", "yes" if identical else "NO")

    section(f"throughput (c={args.concurrency})")
    results: dict[str, LoadResult] = {}
    scenarios = {
        "filtered": ("status=interview, date desc, per_page=20", urls["filtered page 1"]),
        "job": ("job_id (median posting) + status=interview", urls["job + status page 1"]),
    }
    for key, (label, path) in scenarios.items():
        results[f"api {key}"] = measure(f"API       {label}", api, path, token, args, pg)
        results[f"baseline {key}"] = measure(f"baseline  {label}", base, path, token, args, pg)
    # Diagnostic: the same app with a pool as large as the concurrency (no overflow connections),
    # when the default pool is smaller than that.
    pool = max(args.concurrency + 4, 20)
    if pool > settings.database_pool_size:
        pool_env = {**env, "ATS_DATABASE_POOL_SIZE": str(pool)}
        api_pool = start_server("api-pool", "ats.app:create_app", pool_env, logs, factory=True)
        servers.append(api_pool)
        results["api pool"] = measure(
            f"API, ATS_DATABASE_POOL_SIZE={pool}, status=interview",
            api_pool,
            urls["filtered page 1"],
            token,
            args,
            pg,
        )
        api_pool.stop()
    else:
        print(
            f"  (no run with a larger pool: the default pool_size {settings.database_pool_size} "
            f"+ {env['BENCH_POOL_OVERFLOW']} overflow already covers c={args.concurrency})"
        )
    for key, (label, _) in scenarios.items():
        ratio = results[f"api {key}"].rps / results[f"baseline {key}"].rps
        print(f"  ratio API/baseline, {label}: {ratio:.2f}  (aim ≥ 0.70)")
        summary.add(
            f"req/s {label}",
            f"API {results[f'api {key}'].rps:.0f}, baseline {results[f'baseline {key}'].rps:.0f}, "
            f"ratio {ratio:.2f} (aim ≥ 0.70)",
        )
        if ratio < 0.7:
            summary.problem(f"API/baseline ratio {ratio:.2f} < 0.70 for {label}")
    for key in ("api filtered", "baseline filtered", "api pool"):
        if key not in results:
            continue
        r = results[key]
        summary.add(
            f"  {key}: CPU per request",
            f"server {r.server_cpu_ms or 0:.2f} ms, PostgreSQL {r.postgres_cpu_ms or 0:.2f} ms, "
            f"new PG connections during the run: {r.new_connections}, p50 {r.p50_ms:.1f} ms",
        )
    churn = results["api filtered"].new_connections
    if churn > 2 * args.concurrency:
        larger = (
            f"; with ATS_DATABASE_POOL_SIZE={pool}: {results['api pool'].new_connections}"
            if "api pool" in results
            else ""
        )
        summary.problem(
            f"the API opened {churn} new PostgreSQL connections in one {args.warmup + args.duration:g} s run "
            f"at c={args.concurrency} (pool_size {settings.database_pool_size} + overflow connections closed "
            f"on return){larger}"
        )
    if "api pool" in results:
        r = results["api pool"]
        summary.add(
            f"  API with ATS_DATABASE_POOL_SIZE={pool}",
            f"{r.rps:.0f} req/s (ratio {r.rps / results['baseline filtered'].rps:.2f})",
        )
    else:
        summary.add(
            "  API pool",
            f"pool_size {settings.database_pool_size} + {env['BENCH_POOL_OVERFLOW']} overflow (default) "
            f"≥ c={args.concurrency}: no run with a larger pool",
        )

    app_pieces = pieces[AUTH_AND_LIST] + pieces[ENCODE]
    summary.add(
        "  CPU per call (sequential, in-process)",
        f"app token lookup + list service in one session {pieces[AUTH_AND_LIST]:.2f} ms (the lookup alone "
        f"in a session {pieces[AUTH_ALONE]:.2f} ms) + encode {pieces[ENCODE]:.2f} ms = {app_pieces:.2f} ms; "
        f"baseline all-in {pieces[BASELINE_ALL]:.2f} ms",
    )

    section(f"deep paging (median of {args.samples} sequential requests)")
    with httpx.Client(base_url=api.base, timeout=120) as client:
        t_first, _ = timed(client, urls["page 1 (all)"], headers, args.samples)
        t_cursor, body_cursor = timed(client, urls[f"page {deep_page} by cursor"], headers, args.samples)
        t_offset, body_offset = timed(client, urls[f"page {deep_page} by OFFSET"], headers, args.samples)
        t_search, body_search = timed(client, urls["search"], headers, args.samples)
    same_rows = json.loads(body_cursor)["data"] == json.loads(body_offset)["data"]
    print(f"  page 1                     {t_first:8.2f} ms")
    print(
        f"  page {deep_page} by cursor     {t_cursor:8.2f} ms   ratio to page 1: {t_cursor / t_first:.2f} (aim ≤ 1.3)"
    )
    print(f"  page {deep_page} by OFFSET     {t_offset:8.2f} ms   ratio to page 1: {t_offset / t_first:.2f}")
    print(f"  cursor and OFFSET return the same rows: {same_rows}")
    if not same_rows:
        summary.problem(f"page {deep_page} by cursor and by OFFSET differ")
    summary.add(
        f"deep paging, page 1 vs page {deep_page:,}",
        f"page 1 {t_first:.1f} ms, cursor {t_cursor:.1f} ms ({t_cursor / t_first:.2f}x page 1, aim ≤ 1.3), "
        f"OFFSET {t_offset:.1f} ms ({t_offset / t_first:.2f}x)",
    )
    if t_cursor / t_first > 1.3:
        summary.problem(f"cursor page {deep_page} is {t_cursor / t_first:.2f}x page 1")

    section("where the time goes: EXPLAIN (ANALYZE, BUFFERS) of the captured statements")
    plans: dict[str, str] = {}
    shown = {  # the plans printed in full (--verbose prints all); a cursor page runs no count
        "filtered page 1 count",
        "job + status page 1 count",
        "job + status page 1 page",
        "page 1 (all) count",
        f"page {deep_page} by cursor page",
        f"page {deep_page} by OFFSET page",
        "search count",
        "search page",
    }
    explained = (
        "filtered page 1",
        "job + status page 1",
        "page 1 (all)",
        f"page {deep_page} by cursor",
        f"page {deep_page} by OFFSET",
        "search",
    )
    for name in explained:
        for label, (sql, params) in list_queries(captured[name].statements).items():
            plan = explain(dsn, sql, dict(params))
            plans[f"{name} {label}"] = plan
            print(f"  {name} — {label} query: {exec_time(plan)}")
            if args.verbose or f"{name} {label}" in shown:
                print(indent(plan, "      "))
    summary.add(
        "  count(*) per request",
        f"all rows {exec_time(plans['page 1 (all) count'])}, status=interview "
        f"{exec_time(plans['filtered page 1 count'])}, job_id + status "
        f"{exec_time(plans['job + status page 1 count'])} (EXPLAIN ANALYZE)",
    )
    summary.add(
        "  page query (LIMIT 21)",
        f"status=interview {exec_time(plans['filtered page 1 page'])}, job_id + status "
        f"{exec_time(plans['job + status page 1 page'])}, cursor page {deep_page:,} "
        f"{exec_time(plans[f'page {deep_page} by cursor page'])}, OFFSET page {deep_page:,} "
        f"{exec_time(plans[f'page {deep_page} by OFFSET page'])}",
    )
    slow_counts = [
        f"{name} {exec_time(plans[name + ' count'])}"
        for name in explained
        if name + " count" in plans and float(exec_time(plans[name + " count"]).split()[0].replace("?", "0")) > 10
    ]
    if slow_counts:
        summary.problem("the count(*) run on every list request is slow: " + ", ".join(slow_counts))

    section("search")
    hits = json.loads(body_search)["meta"]["total"]
    search_plan = plans["search count"] + "\n" + plans["search page"]
    trigram = "ix_applications_search_trgm" in search_plan and "Bitmap Index Scan" in search_plan
    print(
        f"  search={seed.RARE_SEARCH!r}: {hits} hits, median {t_search:.2f} ms; "
        f"trigram index used (Bitmap Index Scan on ix_applications_search_trgm): {trigram}"
    )
    summary.add(
        f"search={seed.RARE_SEARCH}",
        f"{hits} hits, median {t_search:.1f} ms, count {exec_time(plans['search count'])} + "
        f"page {exec_time(plans['search page'])} in PostgreSQL, trigram index used: {'yes' if trigram else 'NO'}",
    )
    if not trigram:
        summary.problem("the search does not use ix_applications_search_trgm")

    summary.print(started)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="applications to seed (default 1,000,000)")
    parser.add_argument("--concurrency", type=int, default=16, help="load generator workers (default 16)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run (default 3)")
    parser.add_argument("--samples", type=int, default=30, help="requests per latency median (default 30)")
    parser.add_argument("--iterations", type=int, default=300, help="calls per in-process CPU figure")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load client without wrk")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--verbose", action="store_true", help="print every query plan")


def main(args: argparse.Namespace) -> int:
    return run(args)

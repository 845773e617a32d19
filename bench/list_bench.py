"""``python -m bench list``: the applications list (§5) on a large account, against the bare baseline.

Set-up: an account, its admin and 50 postings through the services, ``--rows`` applications
seeded with set-based SQL (``bench.seed``); the app and the baseline under uvicorn; in-process,
the statements of six requests captured and compared, text and parameters, with the baseline's
(and counted at per_page 1, 20 and 100: bounded); both servers must answer equal JSON.
Measurement: ``--rounds`` alternating load runs for a status filter and a median posting plus
that status (server and PostgreSQL CPU, new PostgreSQL connections per run); page 1 vs page
10,000 by ``cursor`` and by ``OFFSET``; ``EXPLAIN (ANALYZE, BUFFERS)`` of the captured statements;
the search for a rare name (it must use ``ix_applications_search_trgm``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import uuid
from functools import partial
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import psycopg

from . import baseline, seed
from .harness import (
    Run,
    Summary,
    add_load_options,
    capture,
    create_account,
    exec_time,
    explain,
    indent,
    login,
    run,
    section,
    timed,
)

API = "/api/v1/applications"
FILTERED = {"status": "interview", "orderby": "date", "order": "desc", "per_page": "20"}
ALL = {"orderby": "date", "order": "desc", "per_page": "20"}
DEEP_PAGE, PER_PAGE, AIM = 10_000, 20, 0.7
QUICK = {"rows": 10_000, "duration": 2.0, "warmup": 1.0, "rounds": 1, "samples": 3}


def q(params: dict[str, str]) -> str:
    return API + "?" + urlencode(params)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="applications to seed (default 1,000,000)")
    add_load_options(parser, rounds=3)
    parser.add_argument("--samples", type=int, default=30, help="requests per latency median (default 30)")
    parser.add_argument("--verbose", action="store_true", help="print every query plan")


def main(args: argparse.Namespace) -> Summary:
    headline = f"{args.rows:,} applications; load c={args.concurrency} {args.warmup:g}s + {args.duration:g}s"
    return run("list", args, headline, bench)


def baseline_statements(path: str, account_id: uuid.UUID, body: bytes) -> list[tuple[str, Any]]:
    """What the baseline runs for ``path`` (after its stages are cached): lookup, count, page, related."""
    st = baseline.list_statements(baseline.parse_query(urlsplit(path).query.encode()), account_id)
    ids = [uuid.UUID(v["id"]) for v in json.loads(body)["data"]]
    count = [(st.count_sql, st.count_params)] if st.count_sql is not None else []  # a cursor page: no count
    related = [(baseline.RELATED, {"ids": ids})] if ids else []
    return [(baseline.AUTH_SQL, None), *count, (st.page_sql, st.page_params), *related]


def bench(b: Run) -> None:
    s, args = b.summary, b.args
    section("seed")
    account_id, admin_id, job_ids = asyncio.run(create_account(b.settings, seed.postings(), b.admin_email))
    seeded = seed.seed_applications(b.superuser_dsn, account_id, admin_id, job_ids, args.rows)
    s.add("seed", f"{seeded.rows:,} applications + related rows in {seeded.total_seconds:.1f} s")
    deep = min(DEEP_PAGE, max(2, args.rows // PER_PAGE // 2))
    with psycopg.connect(b.superuser_dsn, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_connections = 'authorization'")  # new sessions per run, from the log
        conn.execute("SELECT pg_reload_conf()")
        median_job = conn.execute(  # a posting of median size: a filter whose count is small
            "SELECT job_id FROM applications WHERE account_id = %s GROUP BY job_id ORDER BY count(*), job_id"
            " OFFSET %s LIMIT 1",
            (account_id, len(job_ids) // 2),
        ).fetchone()
        before = conn.execute(  # the cursor of page ``deep`` is built from the last row of the page before it
            "SELECT id, created_at, (SELECT count(*) FROM applications WHERE account_id = %(a)s) FROM applications"
            " WHERE account_id = %(a)s ORDER BY created_at DESC, id DESC OFFSET %(n)s LIMIT 1",
            {"a": account_id, "n": (deep - 1) * PER_PAGE - 1},
        ).fetchone()
    assert before is not None
    from ats.services.cursor import Cursor, encode_cursor

    cursor = encode_cursor(Cursor("date", "desc", before[1].isoformat(), before[0], deep, int(before[2])))
    urls = {
        "filtered page 1": q(FILTERED),
        "job + status page 1": q({"job_id": str(median_job[0]) if median_job else "", **FILTERED}),
        "page 1 (all)": q(ALL),
        f"page {deep} by cursor": q({**ALL, "cursor": cursor}),
        f"page {deep} by OFFSET": q({**ALL, "page": str(deep)}),
        "search": q({"search": seed.RARE_SEARCH, **ALL}),
    }
    api, base = b.serve("api"), b.serve("baseline", baseline=True)
    headers = login(api.base, b.admin_email)

    section("statements per request (in-process, at psycopg's cursor), the baseline's")
    sizes = [q({**FILTERED, "per_page": str(n)}) for n in (1, 20, 100)]
    requests = [("GET", path, headers, None) for path in [urls["filtered page 1"], *urls.values(), *sizes]]
    *captured, p1, p20, p100 = asyncio.run(capture(b.settings, requests))
    counts = {n: len(c.statements) for n, c in zip((1, 20, 100), (p1, p20, p100), strict=True)}
    same_sql = True
    for (name, path), got in zip(urls.items(), captured, strict=True):
        want = baseline_statements(path, account_id, got.body)
        equal = [sql for sql, _ in got.statements] == [sql for sql, _ in want] and all(
            w is None or dict(p) == w for (_, p), (_, w) in zip(got.statements, want, strict=True)
        )
        print(f"  {name:<24} {len(got.statements)} statements; the baseline's, parameters too: {equal}")
        same_sql &= equal
    s.add("statements per list request", f"{counts} (per_page: statements); baseline SQL identical: {same_sql}")
    if len(set(counts.values())) != 1 or not same_sql:
        s.problem(f"statements grow with per_page {counts} or differ from the baseline's ({same_sql})")
    with httpx.Client(timeout=120) as http:
        answers = {
            name: (http.get(api.base + p, headers=headers), http.get(base.base + p, headers=headers))
            for name, p in urls.items()
        }
    equal_json = all(a.status_code == 200 and a.json() == c.json() for a, c in answers.values())
    s.add("API and baseline JSON equal", "yes" if equal_json else "NO")

    section(f"throughput (c={args.concurrency})")
    auth = f"--header=Authorization: {headers['Authorization']}"
    for label, path in (
        ("status=interview", urls["filtered page 1"]),
        ("posting + status", urls["job + status page 1"]),
    ):
        runs = b.rounds(
            {
                name: partial(b.load, server=srv, path=path, unit="req/s", extra=[auth])
                for name, srv in (("API", api), ("baseline", base))
            }
        )
        s.ratio(f"req/s {label}", [r.rps for r in runs["API"]], [r.rps for r in runs["baseline"]], "req/s", AIM)
        for name, rs in runs.items():
            s.add(
                f"  {name}: per request",
                f"server CPU {statistics.median(r.server_cpu_ms for r in rs):.2f} ms, PostgreSQL "
                f"{statistics.median(r.postgres_cpu_ms for r in rs):.2f} ms, "
                f"new PG connections {max(r.new_connections for r in rs)}",
            )

    section(f"deep paging and search (median of {args.samples} sequential requests)")
    with httpx.Client(base_url=api.base, timeout=120) as http:
        t = {
            name: timed(http, urls[name], headers, args.samples)
            for name in ("page 1 (all)", f"page {deep} by cursor", f"page {deep} by OFFSET", "search")
        }
    ms = {name: statistics.median(times) for name, (times, _) in t.items()}
    first, by_cursor, by_offset = ms["page 1 (all)"], ms[f"page {deep} by cursor"], ms[f"page {deep} by OFFSET"]
    same_rows = json.loads(t[f"page {deep} by cursor"][1])["data"] == json.loads(t[f"page {deep} by OFFSET"][1])["data"]
    s.add(
        f"deep paging, page {deep:,}",
        f"page 1 {first:.1f} ms, cursor {by_cursor / first:.2f}x (aim ≤ 1.3), "
        f"OFFSET {by_offset / first:.2f}x; same rows: {same_rows}",
    )
    if by_cursor / first > 1.3 or not same_rows:
        s.problem(f"cursor page {deep} is {by_cursor / first:.2f}x page 1; same rows as OFFSET: {same_rows}")

    section("EXPLAIN (ANALYZE, BUFFERS) of the captured count and page statements")
    plans = {}
    for (name, _), got in zip(urls.items(), captured, strict=True):
        for sql, params in got.statements:
            kind = (
                "count" if sql.startswith(baseline.COUNT_SELECT) else "page" if " AS sort_key \nFROM" in sql else None
            )
            if kind:
                plans[f"{name} {kind}"] = plan = explain(b.dsn, sql, dict(params))
                print(f"  {name} {kind}: {exec_time(plan)}")
                if args.verbose:
                    print(indent(plan, "      "))
    s.add(
        "  count / page in PostgreSQL",
        ", ".join(f"{k} {exec_time(v)}" for k, v in plans.items() if "filtered" in k or "job" in k),
    )
    search = plans["search count"] + plans["search page"]
    trigram = "ix_applications_search_trgm" in search and "Bitmap Index Scan" in search
    hits = json.loads(t["search"][1])["meta"]["total"]
    s.add(f"search={seed.RARE_SEARCH}", f"{hits} hits, median {ms['search']:.1f} ms, trigram index used: {trigram}")
    if not trigram:
        s.problem("the search does not use ix_applications_search_trgm")

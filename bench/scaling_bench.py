"""``python -m bench scaling``: how the applications list (§5) grows with the account, 20k to 1M rows.

Set-up: one account per size (``--sizes``, default 20,000, 200,000 and 1,000,000 applications), each with its admin
and 50 postings through the services, seeded together (``bench.seed.seed_accounts``: one index rebuild); the app
under uvicorn. Measurement, per account: ``--samples`` sequential requests (after two warm-ups) of page 1, a deep
page by ``cursor`` (page ``min(10,000, rows / 40)``, as ``bench list`` builds it) and a rare-name ``search``, their
p50 and p99; the ``meta.total`` count of page 1 and the page statement alone, ``EXPLAIN ANALYZE``d (the statements
``bench list`` checks equal to the app's). Not a ratio: what grows with the table. A cursor page has no count, so
it shows what a page costs without one; the difference to page 1 is the count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import uuid
from urllib.parse import urlsplit

import httpx
import psycopg

from . import baseline, seed
from .harness import Run, Summary, create_account, exec_time, explain, login, percentile, run, section, timed
from .list_bench import ALL, DEEP_PAGE, PER_PAGE, q

QUICK = {"sizes": "2000,20000", "samples": 10}
GROWTH_AIM = 2.0  # a cursor page or a search at the largest size, against the smallest: p50 at most this many times


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="20000,200000,1000000", help="applications per account, comma-separated")
    parser.add_argument("--samples", type=int, default=60, help="sequential requests per figure (default 60)")


def main(args: argparse.Namespace) -> Summary:
    return run("scaling", args, f"accounts of {args.sizes} applications; {args.samples} samples each", bench)


def _deep_cursor(dsn: str, account_id: uuid.UUID, rows: int) -> tuple[int, str]:
    """The deep page's number and its cursor (built from the last row of the page before it)."""
    from ats.services.cursor import Cursor, encode_cursor

    deep = min(DEEP_PAGE, max(2, rows // PER_PAGE // 2))
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute(
            "SELECT id, created_at, (SELECT count(*) FROM applications WHERE account_id = %(a)s) FROM applications"
            " WHERE account_id = %(a)s ORDER BY created_at DESC, id DESC OFFSET %(n)s LIMIT 1",
            {"a": account_id, "n": (deep - 1) * PER_PAGE - 1},
        ).fetchone()
    assert before is not None
    return deep, encode_cursor(Cursor("date", "desc", before[1].isoformat(), before[0], deep, int(before[2])))


def _plans(dsn: str, account_id: uuid.UUID) -> tuple[str, str]:
    """``EXPLAIN ANALYZE`` times of page 1's count and page statements (the baseline's, equal to the app's)."""
    path = q(ALL)
    st = baseline.list_statements(baseline.parse_query(urlsplit(path).query.encode()), account_id)
    assert st.count_sql is not None
    return exec_time(explain(dsn, st.count_sql, st.count_params)), exec_time(explain(dsn, st.page_sql, st.page_params))


def bench(b: Run) -> None:
    s, args = b.summary, b.args
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    section("seed")
    accounts: list[tuple[int, str, tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]]] = []
    for rows in sizes:
        email = f"scale-{rows}@bench.example"
        accounts.append((rows, email, asyncio.run(create_account(b.settings, seed.postings(), email))))
    seeded = seed.seed_accounts(b.superuser_dsn, [(*ids, rows) for rows, _, ids in accounts])
    s.add(
        "seed",
        f"{sum(r.rows for r in seeded):,} applications in {len(seeded)} accounts in {seeded[0].total_seconds:.1f} s",
    )
    api = b.serve("api")

    section(f"latency per account size ({args.samples} sequential requests each)")
    p50: dict[str, list[float]] = {"page 1": [], "cursor": [], "search": []}
    with httpx.Client(base_url=api.base, timeout=120) as http:
        for rows, email, (account_id, _, _) in accounts:
            headers = login(api.base, email)
            deep, cursor = _deep_cursor(b.dsn, account_id, rows)
            figures: list[str] = []
            for name, path in (
                ("page 1", q(ALL)),
                ("cursor", q({**ALL, "cursor": cursor})),
                ("search", q({"search": seed.RARE_SEARCH, **ALL})),
            ):
                times, body = timed(http, path, headers, args.samples)
                if name == "search":
                    hits = json.loads(body)["meta"]["total"]
                median = statistics.median(times)
                p50[name].append(median)
                figures.append(f"{name} p50 {median:.1f} / p99 {percentile(times, 99):.1f} ms")
            count_ms, page_ms = _plans(b.dsn, account_id)
            line = (
                f"{'; '.join(figures)} (page {deep:,}; {hits} hits); in PostgreSQL page 1's count {count_ms}, "
                f"its page {page_ms}"
            )
            print(f"  {rows:>9,} rows  {line}", flush=True)
            s.add(f"{rows:,} applications", line)
    if len(sizes) > 1:
        for name in ("cursor", "search"):
            growth = p50[name][-1] / p50[name][0]
            s.add(f"growth {sizes[0]:,} → {sizes[-1]:,}, {name}", f"p50 {growth:.2f}x (aim ≤ {GROWTH_AIM:g}x)")
            if growth > GROWTH_AIM:
                s.problem(f"{name} p50 grows {growth:.2f}x from {sizes[0]:,} to {sizes[-1]:,} rows")
        s.add(
            f"growth {sizes[0]:,} → {sizes[-1]:,}, page 1",
            f"p50 {p50['page 1'][-1] / p50['page 1'][0]:.2f}x (its meta.total counts every row of the account)",
        )

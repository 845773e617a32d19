"""``python -m bench one``: one application (§5 GET) and a move (§4 ``PUT …/status``) against the bare baseline.

Set-up: an account, its admin and 50 postings through the services, ``--rows`` applications seeded
(``bench.seed``); the app and the baseline under uvicorn; in-process, the statements of a GET and of a
move captured and compared, text and order, with the baseline's; both servers must answer the same JSON
for the GET. Measurement: ``--rounds`` alternating load runs of the GET (each worker reads its own
application) and of the move (each worker moves its own application there and back:
``screening → rejected → screening``, every request a real move with its history entry and audit
event), with server and PostgreSQL CPU per request; then each server's peak RSS while it serves
``--rss-requests`` more GETs (the resident memory a worker settles at, against the baseline's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from functools import partial

import httpx
import psycopg

from . import baseline, seed
from .harness import (
    ROOT,
    TICK,
    RssSampler,
    Run,
    Server,
    Summary,
    add_load_options,
    capture,
    cpu_ticks,
    create_account,
    login,
    normalise,
    run,
    section,
)

API = "/api/v1/applications"
GET_AIM, MOVE_AIM, RSS_AIM = 0.7, 0.6, 1.5
THERE, BACK = b'{"status":"rejected"}', b'{"status":"screening"}'
QUICK = {"rows": 2_000, "duration": 2.0, "warmup": 1.0, "rounds": 1, "rss_requests": 1_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=20_000, help="applications to seed (default 20,000)")
    add_load_options(parser, rounds=3)
    parser.add_argument(
        "--rss-requests", type=int, default=10_000, help="GETs each server serves for its peak RSS (default 10,000)"
    )


def main(args: argparse.Namespace) -> Summary:
    headline = f"{args.rows:,} applications; load c={args.concurrency} {args.warmup:g}s + {args.duration:g}s"
    return run("one", args, headline, bench)


def expected(kind: str) -> list[str]:
    """The baseline's statements for a GET or a move (its stages cached), in order."""
    if kind == "get":
        return [baseline.AUTH_SQL, baseline.ONE_SQL, baseline.RELATED]
    return [
        baseline.AUTH_SQL,
        baseline.LOCK_ONE_SQL,
        baseline.MOVE_SQL,
        baseline.HISTORY_SQL,
        baseline.AUDIT_LOCK_SQL,  # the account's lock before the payload is read (ats.events.lock_for_payload)
        baseline.BY_ID_SQL,  # the event's payload, which is the answer too
        baseline.RELATED,
        baseline.AUDIT_APPEND_SQL,  # at commit (ats.events.commit): the audit append, then the outbox
        baseline.OUTBOX_SQL,
    ]


def bench(b: Run) -> None:
    s, args = b.summary, b.args
    section("seed")
    account_id, admin_id, job_ids = asyncio.run(create_account(b.settings, seed.postings(), b.admin_email))
    seeded = seed.seed_applications(b.superuser_dsn, account_id, admin_id, job_ids, args.rows)
    s.add("seed", f"{seeded.rows:,} applications + related rows in {seeded.total_seconds:.1f} s")
    workers = args.concurrency
    with psycopg.connect(b.superuser_dsn, autocommit=True) as conn:
        # Each worker its own applications: one to read, one to move there and back (from screening).
        reads = [
            r[0]
            for r in conn.execute("SELECT id FROM applications WHERE account_id = %s LIMIT %s", (account_id, workers))
        ]
        moved = [
            r[0]
            for r in conn.execute(
                "UPDATE applications SET status = 'screening', previous_status = NULL WHERE id IN"
                " (SELECT id FROM applications WHERE account_id = %s AND status NOT IN ('hired', 'screening')"
                " ORDER BY id LIMIT %s) RETURNING id",
                (account_id, workers + 1),
            )
        ]
    probe, moved = moved[0], moved[1:]
    api, base = b.serve("api"), b.serve("baseline", baseline=True)
    headers = login(api.base, b.admin_email)

    section("statements per request (in-process, at psycopg's cursor), the baseline's")
    json_headers = {**headers, "Content-Type": "application/json"}
    requests = [
        ("GET", f"{API}/{reads[0]}", headers, None),  # warms the process up
        ("GET", f"{API}/{reads[0]}", headers, None),
        ("PUT", f"{API}/{probe}/status", json_headers, THERE),
        ("PUT", f"{API}/{probe}/status", json_headers, BACK),
    ]
    get_one, there, back = asyncio.run(capture(b.settings, requests))
    same_sql = True
    for name, got, kind in (("GET one", get_one, "get"), ("move", there, "move"), ("move back", back, "move")):
        texts = [normalise(sql) for sql, _ in got.statements]
        equal = got.status == 200 and texts == [normalise(sql) for sql in expected(kind)]
        print(f"  {name:<10} {got.status}, {len(texts)} statements; the baseline's: {equal}")
        if not equal:
            print("\n".join(f"    · {t[:160]}" for t in texts))
        same_sql &= equal
    s.add("statements (GET one, move)", f"{len(get_one.statements)}, {len(there.statements)}; baseline's: {same_sql}")
    if not same_sql:
        s.problem("the app's statements for GET one or a move differ from the baseline's")
    with httpx.Client(timeout=60) as http:
        path = f"{API}/{reads[0]}"
        a, c = http.get(api.base + path, headers=headers), http.get(base.base + path, headers=headers)
        moves = [
            http.put(srv.base + f"{API}/{probe}/status", content=body, headers=json_headers)
            for srv, body in ((api, THERE), (base, BACK))
        ]
    equal_json = a.status_code == 200 and a.json() == c.json() and a.headers.get("etag") == c.headers.get("etag")
    moved_ok = [m.status_code for m in moves] == [200, 200] and moves[1].json()["data"]["status"] == "screening"
    s.add("API and baseline JSON equal (GET one)", "yes" if equal_json else "NO")
    s.add("a move on each server", "200, 200" if moved_ok else f"{[m.status_code for m in moves]}")
    if not equal_json or not moved_ok:
        s.problem("the API and the baseline answer GET one or a move differently")

    section(f"throughput (c={workers})")
    auth = f"--header=Authorization: {headers['Authorization']}"
    slots = [f"--worker-slot={','.join(str(i) for i in reads)}"]
    move_args = [
        "--method",
        "PUT",
        "--body",
        THERE.decode(),
        "--body2",
        BACK.decode(),
        "--header=Content-Type: application/json",
    ]
    for label, path, extra, aim in (
        ("GET one", f"{API}/WORKERSLOT", [auth, *slots], GET_AIM),
        (
            "move",
            f"{API}/WORKERSLOT/status",
            [auth, f"--worker-slot={','.join(str(i) for i in moved)}", *move_args],
            MOVE_AIM,
        ),
    ):
        runs = b.rounds(
            {
                name: partial(b.load, server=srv, path=path, unit="req/s", extra=extra)
                for name, srv in (("API", api), ("baseline", base))
            }
        )
        s.ratio(f"req/s {label}", [r.rps for r in runs["API"]], [r.rps for r in runs["baseline"]], "req/s", aim)
        for name, rs in runs.items():
            s.add(
                f"  {name}: per request",
                f"server CPU {statistics.median(r.server_cpu_ms for r in rs):.2f} ms, PostgreSQL "
                f"{statistics.median(r.postgres_cpu_ms for r in rs):.2f} ms, "
                f"new PG connections {max(r.new_connections for r in rs)}",
            )

    section(f"peak RSS while serving {args.rss_requests:,} more GETs")
    peaks = {
        name: rss_after(srv, f"{API}/WORKERSLOT", [auth, *slots], args.rss_requests, workers)
        for name, srv in (("API", api), ("baseline", base))
    }
    ratio = peaks["API"] / max(1, peaks["baseline"])
    s.add(
        f"peak RSS after {args.rss_requests:,} GETs",
        f"API {peaks['API'] / 2**20:.1f} MiB, baseline {peaks['baseline'] / 2**20:.1f} MiB: "
        f"{ratio:.2f}x (aim ≤ {RSS_AIM})",
    )
    if ratio > RSS_AIM:
        s.problem(f"peak RSS {ratio:.2f}x the baseline's > {RSS_AIM}")


def rss_after(server: Server, path: str, extra: list[str], requests: int, workers: int) -> int:
    """``server``'s peak RSS (sampled every 50 ms) while it serves at least ``requests`` more requests."""
    sampler = RssSampler(server.pid)
    sampler.start()
    served, cpu0 = 0, cpu_ticks(server.pid)
    try:
        while served < requests:
            cmd = [
                sys.executable,
                "-m",
                "bench.load",
                server.base + path,
                "-c",
                str(workers),
                "-d",
                "3",
                "-w",
                "0",
                *extra,
            ]
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            served += int(json.loads(done.stdout.strip().splitlines()[-1])["total"])
    finally:
        peak = sampler.stop()
    cpu = (cpu_ticks(server.pid) - cpu0) * 1000 / TICK / max(1, served)
    print(f"  {server.name:<9} {served:,} requests, peak RSS {peak / 2**20:.1f} MiB, server CPU {cpu:.2f} ms/request")
    return peak

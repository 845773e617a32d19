"""``python -m bench apply``: public applies per second (§6, two documents) against the bare baseline.

Set-up: an account and a published posting through the services; the statements of one apply
captured in-process and compared, text and order, with ``bench.baseline``'s; the app
(``ATS_PUBLIC_RATE_LIMIT=10000000``) and the baseline served by uvicorn; one apply to each (both
``201``, the same JSON shape, the same rows). Measurement: ``--rounds`` alternating load runs
(a new email each request), server and PostgreSQL CPU per apply; the baseline without its
``HeadBucket`` (what that check still costs); the account's audit chain, which both servers wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid
from collections.abc import Callable
from functools import partial

import httpx
import msgspec
import psycopg

from .baseline import STATEMENTS
from .harness import (
    POSTING,
    LoadResult,
    Run,
    Server,
    Summary,
    add_load_options,
    capture,
    create_account,
    login,
    normalise,
    run,
    section,
    shape,
)

PATH = "/public/v1/applicants?include=applicant_documents"
HEADERS = {"Content-Type": "application/vnd.api+json", "Accept": "application/vnd.api+json"}
RATE_LIMIT = 10_000_000
S3_CHECK_MAX_AGE = 2.0  # s the app trusts a HeadBucket (api/public_apply.py), passed to the baseline
AIM = 0.6
QUICK = {"duration": 2.0, "warmup": 1.0, "rounds": 1}


def apply_body(job_id: uuid.UUID, email: str) -> bytes:
    """A name, an email, the posting, consent, and two documents (pdf and docx)."""
    documents = [
        {"extension": "pdf", "name": "Resume", "type": "cv"},
        {"extension": "docx", "name": "Cover letter", "type": "cover_letter"},
    ]
    consent = {"privacy_policy": True, "privacy_policy_version": "2025-01", "talent_pool": False}
    attributes = {"name": "Jane Applicant", "email": email, "job_posting_id": str(job_id), "phone": "+49 30 1234567"}
    attributes |= {"source": "website", "documents": documents, "consent": consent}
    return msgspec.json.encode({"data": {"type": "applicant", "attributes": attributes}})


def paths(value: object, at: str = "") -> set[str]:
    """Every key path of a JSON value (list items as ``[]``), to name where two shapes differ."""
    if isinstance(value, dict):
        return {at} | {p for k, v in value.items() for p in paths(v, f"{at}/{k}")}
    if isinstance(value, list):
        return {at} | {p for v in value for p in paths(v, f"{at}[]")}
    return {f"{at}:{type(value).__name__}"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_load_options(parser, rounds=3)


def main(args: argparse.Namespace) -> Summary:
    headline = f"load c={args.concurrency} {args.warmup:g}s warm-up + {args.duration:g}s, {args.rounds} round(s)"
    return run("apply", args, headline, bench)


def bench(b: Run) -> None:
    s = b.summary
    account_id, _, (job_id,) = asyncio.run(create_account(b.settings, [POSTING], b.admin_email))
    print(f"  account {account_id}, posting {job_id}")

    section("statements of one apply (in-process, at psycopg's cursor)")
    requests = [("POST", PATH, HEADERS, apply_body(job_id, f"capture{i}@bench.example")) for i in range(2)]
    (one,) = asyncio.run(capture(b.settings, requests, public_rate_limit=RATE_LIMIT))
    got, want = [normalise(sql) for sql, _ in one.statements], [normalise(sql) for sql in STATEMENTS]
    for sql in got:
        print(f"    · {sql[:150]}{' …' if len(sql) > 150 else ''}")
    if one.status != 201 or got != want:
        s.problem(f"in-process apply {one.status}; statements differ from the baseline's: {set(got) ^ set(want)}")
    s.add("statements per apply", f"{len(got)}; baseline SQL identical to the app's: {'yes' if got == want else 'NO'}")

    section("servers; one apply each")
    api = b.serve("api", ATS_PUBLIC_RATE_LIMIT=str(RATE_LIMIT))
    base = b.serve("baseline", baseline=True, BENCH_S3_CHECK_MAX_AGE=str(S3_CHECK_MAX_AGE))
    bodies = {}
    for server in (api, base):
        response = httpx.post(
            server.base + PATH, content=apply_body(job_id, f"check-{server.name}@x.example"), headers=HEADERS
        )
        print(f"  {server.name:<9} {response.status_code}, {len(response.content)} bytes")
        bodies[server.name] = response.json() if response.status_code == 201 else {}
    same = bool(bodies["api"]) and shape(bodies["api"]) == shape(bodies["baseline"])
    with psycopg.connect(b.dsn) as conn:
        for name, answer in bodies.items():
            row = conn.execute(
                "SELECT (SELECT count(*) FROM status_history WHERE application_id = %(a)s),"
                " (SELECT count(*) FROM documents WHERE application_id = %(a)s AND upload_status = 'uploading'),"
                " (SELECT count(*) FROM audit_events WHERE object_id = %(a)s AND action = 'application.created')",
                {"a": uuid.UUID(answer.get("data", {}).get("id", str(uuid.UUID(int=0))))},
            ).fetchone()
            print(f"  {name:<9} rows: history, documents, audit events {row}")
            same &= row == (1, 2, 1)
    if not same:
        api_keys, base_keys = paths(bodies["api"]), paths(bodies["baseline"])
        print(f"  only the API's: {sorted(api_keys - base_keys)}; only the baseline's: {sorted(base_keys - api_keys)}")
        s.problem("the API and the baseline answer in different shapes or write different rows")
    s.add("API and baseline answers", "same shape, same rows" if same else "DIFFER")

    section(f"throughput (c={b.args.concurrency}, {b.args.warmup:g}s warm-up + {b.args.duration:g}s per run)")

    def post(server: Server) -> Callable[[str], LoadResult]:
        template = apply_body(job_id, "EMAILSLOT@bench.example").decode()
        extra = ["--method", "POST", "--body", template, *(f"--header={k}: {v}" for k, v in HEADERS.items())]
        return partial(b.load, server=server, path=PATH, unit="applies/s", extra=extra)

    runs = b.rounds({"API": post(api), "baseline": post(base)})
    s.ratio(
        "applies/s (2 documents)", [r.rps for r in runs["API"]], [r.rps for r in runs["baseline"]], "applies/s", AIM
    )
    for name, results in runs.items():
        cpu = [r.server_cpu_ms for r in results]
        pg = [r.postgres_cpu_ms for r in results]
        s.add(
            f"  {name}: CPU per apply",
            f"server {min(cpu):.2f}..{max(cpu):.2f} ms, PostgreSQL {min(pg):.2f}..{max(pg):.2f} ms",
        )
    b.stop(base)

    section(f"diagnostic: the baseline without the HeadBucket check (else one per {S3_CHECK_MAX_AGE:g} s)")
    noping = b.serve("baseline-noping", baseline=True, BENCH_S3_PING="0")
    alone = post(noping)("baseline, no S3 check")
    base_rps = statistics.median(r.rps for r in runs["baseline"])
    s.add(
        "  baseline without HeadBucket",
        f"{alone.rps:.0f} applies/s; HeadBucket costs {1 - base_rps / max(alone.rps, 1):.1%}",
    )
    b.stop(noping)

    section("diagnostic: the outbox's cost, the baseline with and without its statements (aim ≤ 10 %)")
    check_age = str(S3_CHECK_MAX_AGE)
    with_outbox = b.serve("baseline-outbox", baseline=True, BENCH_S3_CHECK_MAX_AGE=check_age)
    no_outbox = b.serve("baseline-no-outbox", baseline=True, BENCH_S3_CHECK_MAX_AGE=check_age, BENCH_OUTBOX="0")
    outbox_runs = b.rounds({"with": post(with_outbox), "without": post(no_outbox)})
    with_rps, without_rps = (statistics.median(r.rps for r in outbox_runs[k]) for k in ("with", "without"))
    s.add(
        "  outbox statements per apply",
        f"{without_rps:.0f} → {with_rps:.0f} applies/s: costs {1 - with_rps / max(without_rps, 1):.1%} (aim ≤ 10 %)",
    )
    b.stop(with_outbox)
    b.stop(no_outbox)

    section("audit chain (API and baseline events interleaved in one account)")
    verify = httpx.get(api.base + "/api/v1/audit-events/verify", headers=login(api.base, b.admin_email), timeout=300)
    result = verify.json().get("data", verify.json())
    print(f"  {verify.status_code} {result}")
    ok = verify.status_code == 200 and result.get("ok") is True
    if not ok:
        s.problem(f"the audit chain does not verify: {result}")
    s.add("audit chain after the run", f"{'ok' if ok else 'BROKEN'}, {result.get('checked')} events")

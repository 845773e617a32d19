"""``python -m bench faults``: the fault run (issue 11) — PostgreSQL crashed and S3 killed under load.

Its own embedded PostgreSQL and S3 in a temporary ``ATS_DATA_DIR`` (``ats services start``), the app served by
``ats run``; appliers (public apply with a PDF and a DOCX through presigned POSTs, then ``complete``) and
recruiters (list, read, note, move, download, upload, erase) for the whole run. After ``--warmup`` s the
postmaster is SIGKILLed, ``--pg-down`` s later ``ats services start`` brings it back; once a full apply succeeds
again and ``--between`` s have passed, S3 is killed, and ``--s3-down`` s later started again; ``--tail`` s of load
follow. Then the clock is moved past every TTL and one ``ats documents sweep`` runs. Printed: requests, 2xx / 4xx /
503 / 500 counts (500 must be 0), recovery after PostgreSQL and after S3 return (from the restart to the first full
apply), and what one sweep leaves: rows without objects, objects without rows, pending work (each must be 0).
The scenario is ``bench.fault_scenario``, which ``tests/integration/test_fault_under_load.py`` runs short.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

from .fault_scenario import Outcome, Schedule, scenario
from .harness import Summary, machine_load, section

QUICK = {"warmup": 3.0, "pg_down": 2.0, "between": 2.0, "s3_down": 3.0, "tail": 2.0, "appliers": 6}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warmup", type=float, default=10.0, help="load before the crash, s (default 10)")
    parser.add_argument("--pg-down", type=float, default=10.0, help="PostgreSQL down, s (default 10)")
    parser.add_argument("--between", type=float, default=10.0, help="load between the faults, s (default 10)")
    parser.add_argument("--s3-down", type=float, default=10.0, help="S3 down, s (default 10)")
    parser.add_argument("--tail", type=float, default=10.0, help="load after S3's recovery, s (default 10)")
    parser.add_argument("--appliers", type=int, default=8, help="concurrent public appliers (default 8)")
    parser.add_argument("--recruiters", type=int, default=3, help="concurrent recruiters (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="ATS_WORKERS of the server (default 1)")
    parser.add_argument("--recovery-bound", type=float, default=120.0, help="give up waiting for recovery, s")


def main(args: argparse.Namespace) -> Summary:
    summary = Summary("faults")
    started = time.perf_counter()
    schedule = Schedule(
        warmup=args.warmup,
        pg_down=args.pg_down,
        between=args.between,
        s3_down=args.s3_down,
        tail=args.tail,
        appliers=args.appliers,
        recruiters=args.recruiters,
        workers=args.workers,
        recovery_bound=args.recovery_bound,
    )
    print(
        f"bench faults: {os.cpu_count()} CPUs; Python {platform.python_version()}; {schedule.appliers} appliers, "
        f"{schedule.recruiters} recruiters; PostgreSQL SIGKILLed after {schedule.warmup:g} s for "
        f"{schedule.pg_down:g} s, S3 killed for {schedule.s3_down:g} s",
        flush=True,
    )
    machine_load(summary)
    section("run (own embedded services, ats run, load, faults, one sweep)")
    outcome = asyncio.run(scenario(schedule, keep=args.keep_data))
    for at, what in outcome.timeline:
        print(f"  {at:6.1f} s  {what}")
    for name, value in outcome.lines():
        summary.add(name, value)
    judge(outcome, summary)
    summary.print(started)
    return summary


def judge(outcome: Outcome, summary: Summary) -> None:
    """Every way the run fell short of the contract, as a finding."""
    for fault in outcome.faults[:20]:
        summary.problem(f"{fault.flow} {fault.method} {fault.path}: {fault.status} {fault.detail}")
    if outcome.by_class["500"] or 500 in outcome.server_log_statuses:
        summary.problem(f"500s: {outcome.by_class['500']} answered, {outcome.server_log_statuses[500]} logged")
    for line in outcome.server_log_errors[:10]:
        summary.problem(f"the server logged: {line}")
    if outcome.wrong_bytes:
        summary.problem(f"{outcome.wrong_bytes} downloads served bytes that were not checked")
    for name, value in (("PostgreSQL", outcome.pg_recovery_s), ("S3", outcome.s3_recovery_s)):
        if value is None:
            summary.problem(f"no full apply succeeded after {name} returned")
    for what, found in (("row without its object", outcome.rows_without_objects), ("leftover", outcome.leftovers)):
        for item in found[:10]:
            summary.problem(f"{what}: {item}")
    if outcome.pending_total:
        summary.problem(f"pending work after one sweep: {outcome.pending}")
    section("answers other than 2xx, one of each")
    for (flow, status, code), detail in sorted(outcome.details.items()):
        print(f"  {flow} {status} {code}: {detail[:160]}")

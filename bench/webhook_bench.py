"""Webhook deliveries per second to a local receiver, with 1 and 2 delivering processes (§12).

``python -m bench webhooks [--events N]``: embedded PostgreSQL, one account with one subscription to a
stdlib HTTP receiver on loopback (answers 200 at once), N outbox events appended up front (each its own
application, so nothing waits for ordering); then 1, and then 2, separate processes run the delivery engine
(``ats.delivery.Engine.run_forever``, as API processes do) until the receiver has every event. Prints events per
second and checks that no event arrived twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import multiprocessing
import time
import uuid
from typing import Any

from ats import outbox
from ats.auth import Principal
from ats.db import UnitOfWork, create_engine, session_factory
from ats.services import accounts, webhooks
from ats.settings import Settings
from tests.integration.webhook_receiver import Receiver

from .harness import Summary, section


def _engine_process(settings: Settings, seconds: float) -> None:
    from ats.delivery import Engine

    async def run() -> None:
        engine = create_engine(str(settings.database_url), pool_size=10)
        task = asyncio.create_task(Engine(UnitOfWork(session_factory(engine)), settings).run_forever())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()

    asyncio.run(run())


async def _prepare(settings: Settings, url: str, events: int) -> None:
    engine = create_engine(str(settings.database_url), pool_size=4)
    uow = UnitOfWork(session_factory(engine))
    async with uow() as session:
        account, _ = await accounts.create_account(
            session,
            "bench " + uuid.uuid4().hex[:6],
            admin_email=f"b-{uuid.uuid4().hex[:6]}@example.com",
            admin_password="correct horse battery",
        )
        principal = Principal("system", None, account.id, "admin")
        await webhooks.create_subscription(
            session, principal, settings, url=url, events=["*"], filters=webhooks.Filters([], [])
        )
    for start in range(0, events, 500):
        async with uow() as session:
            for _ in range(min(500, events - start)):
                application_id = uuid.uuid4()
                await outbox.append(
                    session,
                    account_id=account.id,
                    type="application.status_changed",
                    data={"id": str(application_id), "status": "interview", "job_id": str(uuid.uuid4())},
                    application_id=application_id,
                )
    await engine.dispose()


def measure(settings: Settings, processes: int, events: int) -> dict[str, Any]:
    receiver = Receiver().start()
    try:
        asyncio.run(_prepare(settings, receiver.url, events))
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_engine_process, args=(settings, 600.0)) for _ in range(processes)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        first = None
        while len(receiver.requests) < events and time.perf_counter() - started < 600:
            if first is None and receiver.requests:
                first = time.perf_counter()
            time.sleep(0.02)
        done = time.perf_counter()
        time.sleep(1.0)  # anything sent twice would arrive now
        for worker in workers:
            worker.terminate()
            worker.join()
        ids = [r.id for r in receiver.requests]
        window = done - (first or started)
        return {
            "processes": processes,
            "events": events,
            "received": len(ids),
            "duplicates": len(ids) - len(set(ids)),
            "seconds": round(window, 2),
            "events_per_second": round(len(set(ids)) / window, 1) if window > 0 else None,
        }
    finally:
        receiver.stop()


def _services(keep: bool) -> Any:
    import shutil
    import tempfile
    from pathlib import Path

    from ats import migrate
    from ats.embedded import ensure_services
    from ats.settings import load_settings

    @contextlib.contextmanager
    def run() -> Any:
        data_dir = Path(tempfile.mkdtemp(prefix="ats-bench-webhooks-"))
        env = {"ATS_DATA_DIR": str(data_dir), "ATS_EMBEDDED_FAST": "true", "ATS_DEMO_ACCOUNT": "false"}
        settings, services = ensure_services(load_settings(env))
        try:
            assert settings.database_url
            migrate.upgrade_and_grant(settings.database_url, settings.database_owner_url)
            yield settings
        finally:
            services.stop(kill_s3=True)
            if not keep:
                shutil.rmtree(data_dir, ignore_errors=True)

    return run()


QUICK = {"events": 300}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=2000, help="outbox events to deliver per run (default 2000)")


def main(args: argparse.Namespace) -> Summary:
    """Deliveries per second with 1 and 2 delivering processes, on the shared services or its own."""
    summary = Summary("webhooks")
    started = time.perf_counter()
    section(f"webhook deliveries to a local receiver: {args.events} events, 1 then 2 delivering processes")
    with contextlib.ExitStack() as stack:
        shared = getattr(args, "shared", None)
        base = shared[0] if shared else stack.enter_context(_services(args.keep_data))
        settings = dataclasses.replace(
            base, webhooks_allow_http=True, webhooks_allow_private=True, webhooks_poll_interval=0.05
        )
        for processes in (1, 2):
            found = measure(settings, processes, args.events)
            print(f"  {found}", flush=True)
            summary.add(
                f"{processes} process{'es' if processes > 1 else ''}",
                f"{found['events_per_second']} events/s, {found['received']}/{found['events']} received, "
                f"{found['duplicates']} duplicates",
            )
            if found["received"] < found["events"] or found["duplicates"]:
                summary.problem(f"{processes} process(es): {found}")
    summary.print(started)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_bench", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--keep-data", action="store_true")
    main(parser.parse_args())

"""Periodic work every server process runs: erasures S3 refused before, the upload sweep, audit sealing.

Each job takes its rows with ``SKIP LOCKED``, so several processes never do one piece twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from . import audit_seal, delivery
from .runtime import Runtime
from .services import documents, erasure, feed

log = logging.getLogger("ats.worker")


async def run_once(runtime: Runtime) -> tuple[int | None, documents.SweepResult]:
    """Finish erasures S3 refused before, sweep unfinished uploads, prune old outbox events (``ats documents sweep``
    runs this too).

    Returns the objects the erasures removed (None when S3 still refuses some) and what the sweep removed.
    """
    erased = await erasure.process_pending(
        runtime.uow, runtime.documents, upload_url_ttl=runtime.settings.upload_url_ttl
    )
    swept = await documents.sweep(runtime.uow, runtime.documents, upload_ttl=runtime.settings.upload_ttl)
    await feed.prune(runtime.uow, retention=runtime.settings.event_retention)
    return erased, swept


async def seal_audit(runtime: Runtime) -> list[audit_seal.Sealed]:
    """Write a signed checkpoint for every account with new audit events (``ats audit seal`` runs this too)."""
    store = audit_seal.checkpoint_store(runtime.documents.client, runtime.settings)
    key = audit_seal.signing_key(runtime.settings)
    return await audit_seal.seal(runtime.uow, store, key)


async def prune_webhook_logs(runtime: Runtime) -> int:
    """Delete webhook delivery logs older than 30 days."""
    return await delivery.Engine(runtime.uow, runtime.settings).prune()


async def _every(seconds: int, name: str, job: Callable[[Runtime], Awaitable[object]], runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(runtime)
        except Exception as exc:  # PostgreSQL or S3 may be down: try again next round.
            log.warning("%s failed: %s", name, type(exc).__name__)


async def background_jobs(runtime: Runtime) -> None:
    """Forever: every ``ATS_SWEEP_INTERVAL`` the sweep jobs (and the webhook log pruning), every
    ``ATS_AUDIT_SEAL_INTERVAL`` the audit seal; webhook delivery all the time (unless ``ATS_WEBHOOKS_DELIVERY`` is off).

    A failure waits for the next round.
    """
    settings = runtime.settings
    async with asyncio.TaskGroup() as jobs:
        jobs.create_task(_every(settings.sweep_interval, "background jobs", run_once, runtime))
        jobs.create_task(_every(settings.audit_seal_interval, "audit sealing", seal_audit, runtime))
        jobs.create_task(_every(settings.sweep_interval, "webhook log pruning", prune_webhook_logs, runtime))
        if settings.webhooks_delivery:
            jobs.create_task(delivery.Engine(runtime.uow, runtime.settings).run_forever())

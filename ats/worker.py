"""Periodic work every server process runs: erasures S3 refused before, and the upload sweep.

Each job takes its rows with ``SKIP LOCKED``, so several processes never do one piece twice.
"""

from __future__ import annotations

import asyncio
import logging

from .runtime import Runtime
from .services import documents, erasure

log = logging.getLogger("ats.worker")


async def run_once(runtime: Runtime) -> tuple[int | None, documents.SweepResult]:
    """Finish erasures S3 refused before, then sweep unfinished uploads (``ats documents sweep`` runs this too).

    Returns the objects the erasures removed (None when S3 still refuses some) and what the sweep removed.
    """
    erased = await erasure.process_pending(
        runtime.uow, runtime.documents, upload_url_ttl=runtime.settings.upload_url_ttl
    )
    swept = await documents.sweep(runtime.uow, runtime.documents, upload_ttl=runtime.settings.upload_ttl)
    return erased, swept


async def background_jobs(runtime: Runtime) -> None:
    """Forever: sleep ``ATS_SWEEP_INTERVAL``, then run every job; a failure waits for the next round."""
    while True:
        await asyncio.sleep(runtime.settings.sweep_interval)
        try:
            await run_once(runtime)
        except Exception as exc:  # PostgreSQL or S3 may be down: try again next round.
            log.warning("background jobs failed: %s", type(exc).__name__)

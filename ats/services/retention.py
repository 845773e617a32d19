"""Retention (§8): rejected or withdrawn applications are erased ``ATS_RETENTION_DAYS`` after that status,
unless talent-pool consent (until ``ATS_TALENT_POOL_DAYS`` after consent) or a legal hold keeps them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from ats.storage import Documents

from .. import audit
from ..auth import Principal
from ..db import UnitOfWork, utcnow
from ..models import Application
from ..pipeline import CLOSED
from ..settings import Settings
from ..vocabulary import ErasureReason
from . import erasure

REASON: ErasureReason = "retention"


def _closed_long_enough(now: datetime, retention_days: int) -> ColumnElement[bool]:
    return and_(
        Application.status.in_([s.value for s in CLOSED]),
        Application.status_changed_at <= now - timedelta(days=retention_days),
    )


def _kept(now: datetime, talent_pool_days: int) -> ColumnElement[bool]:
    """A legal hold, or talent-pool consent given less than ``talent_pool_days`` ago."""
    talent_pool = and_(
        Application.consent_talent_pool.is_(True),
        Application.consented_at.is_not(None),
        Application.consented_at > now - timedelta(days=talent_pool_days),
    )
    return or_(Application.legal_hold.is_(True), talent_pool)


def due_clause(now: datetime, retention_days: int, talent_pool_days: int) -> ColumnElement[bool]:
    """Applications retention erases at ``now``: closed long enough and nothing keeps them."""
    return and_(_closed_long_enough(now, retention_days), not_(_kept(now, talent_pool_days)))


def held_clause(now: datetime, retention_days: int, talent_pool_days: int) -> ColumnElement[bool]:
    """Closed long enough, but kept by a legal hold or live talent-pool consent."""
    return and_(_closed_long_enough(now, retention_days), _kept(now, talent_pool_days))


@dataclass
class RetentionReport:
    dry_run: bool
    erased: list[uuid.UUID] = field(default_factory=list)
    count: int = 0  # len(erased), for readers of the JSON
    held: int = 0
    storage_pending: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings retention reads: ``ATS_RETENTION_DAYS``, ``ATS_TALENT_POOL_DAYS``, ``ATS_UPLOAD_URL_TTL``."""

    retention_days: int
    talent_pool_days: int
    upload_url_ttl: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(settings.retention_days, settings.talent_pool_days, settings.upload_url_ttl)


async def run(
    uow: UnitOfWork,
    store: Documents,
    policy: Policy,
    *,
    account_id: uuid.UUID | None,
    dry_run: bool,
    actor: Principal | None = None,
) -> RetentionReport:
    """Erase (or, with ``dry_run``, list) what retention allows; one audit event per account run.

    One unit of work per erasure, so a long run holds no lock for long and S3 is called with none held.
    """
    now = utcnow()
    due_now = due_clause(now, policy.retention_days, policy.talent_pool_days)
    report = RetentionReport(dry_run=dry_run)
    async with uow() as session:
        query = select(Application.id, Application.account_id).where(due_now)
        held_query = select(func.count()).where(held_clause(now, policy.retention_days, policy.talent_pool_days))
        if account_id is not None:
            query = query.where(Application.account_id == account_id)
            held_query = held_query.where(Application.account_id == account_id)
        due: list[Any] = list(await session.execute(query.order_by(Application.status_changed_at)))
        report.held = int(await session.scalar(held_query) or 0)
    by_account: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in due:
        by_account.setdefault(row.account_id, []).append(row.id)
    if account_id is not None:
        by_account.setdefault(account_id, [])
    pending: list[uuid.UUID] = []
    for account, ids in by_account.items():
        principal = actor if actor is not None and actor.account_id == account else Principal.system(account)
        erased_here: list[uuid.UUID] = []
        if not dry_run:
            for application_id in ids:
                async with uow() as session:
                    # The person's row before the application's, the order every erasure locks them in.
                    person = await session.scalar(
                        select(Application.candidate_id).where(Application.id == application_id)
                    )
                    if person is None:
                        continue
                    await erasure.lock_candidate(session, person)
                    # Re-checked under the row lock: a hold set meanwhile wins.
                    still_due = await session.scalar(
                        select(Application.id)
                        .where(Application.id == application_id, due_now)
                        .with_for_update(skip_locked=True)
                    )
                    if still_due is None:
                        continue
                    _, pending_id = await erasure.erase_rows(
                        session, principal, application_id, reason=REASON, lease=erasure.LEASE
                    )
                erased_here.append(application_id)
                pending.append(pending_id)
        else:
            erased_here = ids
        report.erased += erased_here
        async with uow() as session:
            await audit.record(
                session,
                principal,
                "retention.run",
                data={"dry_run": dry_run, "erased": len(erased_here)},
                account_id=account,
            )
    report.count = len(report.erased)
    if pending:
        await erasure.process_pending(uow, store, upload_url_ttl=policy.upload_url_ttl, pending_ids=pending)
        async with uow() as session:
            report.storage_pending = await erasure.pending_count(session, account_id)
    return report

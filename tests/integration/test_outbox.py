"""The outbox (§12): positions per account are gapless and commit in order; a rollback leaves nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from ats import outbox
from ats.models import OutboxEvent
from ats.runtime import Runtime
from tests.conftest import Account


async def _positions(runtime: Runtime, account: Account) -> list[tuple[int, str]]:
    async with runtime.transaction() as session:
        rows = await session.execute(
            select(OutboxEvent.position, OutboxEvent.type)
            .where(OutboxEvent.account_id == account.id)
            .order_by(OutboxEvent.position)
        )
        return [(int(p), str(t)) for p, t in rows.all()]


async def test_concurrent_appends_are_numbered_without_gaps_in_commit_order(
    account: Account, other_account: Account, runtime: Runtime
) -> None:
    async def one(index: int) -> None:
        async with runtime.transaction() as session:
            await outbox.append(session, account_id=account.id, type="job.created", data={"n": index})
            await asyncio.sleep(0.01 * (index % 3))

    await asyncio.gather(*(one(i) for i in range(12)))
    async with runtime.transaction() as session:
        await outbox.append(session, account_id=other_account.id, type="job.created", data={})

    positions = await _positions(runtime, account)
    assert [p for p, _ in positions] == list(range(1, 13))
    assert [p for p, _ in await _positions(runtime, other_account)] == [1]


async def test_a_rolled_back_event_leaves_no_row_and_no_gap(account: Account, runtime: Runtime) -> None:
    class Boom(Exception):
        pass

    try:
        async with runtime.transaction() as session:
            await outbox.append(session, account_id=account.id, type="job.created", data={})
            raise Boom
    except Boom:
        pass
    async with runtime.transaction() as session:
        event = await outbox.append(session, account_id=account.id, type="job.created", data={"ok": True})
    assert event.position == 1
    assert await _positions(runtime, account) == [(1, "job.created")]


async def test_a_second_writer_waits_for_the_first_to_commit(account: Account, runtime: Runtime) -> None:
    """What keeps a feed reader from skipping: position N+1 cannot commit before N."""
    async with runtime.transaction() as first:
        await outbox.append(first, account_id=account.id, type="job.created", data={})

        async def second() -> int:
            async with runtime.transaction() as session:
                return (await outbox.append(session, account_id=account.id, type="job.updated", data={})).position

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not waiting.done()
    assert await waiting == 2

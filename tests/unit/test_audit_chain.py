from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ats.audit import GENESIS, chain_hash, event_body, verify_rows
from ats.models import AuditEvent


def _chain(n: int) -> list[AuditEvent]:
    account = uuid.uuid4()
    rows: list[AuditEvent] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        row = AuditEvent(
            id=uuid.uuid4(),
            account_id=account,
            seq=seq,
            at=datetime(2026, 1, 1, 12, 0, seq, tzinfo=UTC),
            actor_type="system",
            actor_id=None,
            action="job.created",
            object_type="job",
            object_id=uuid.uuid4(),
            data={"n": seq},
            prev_hash=prev,
        )
        row.hash = chain_hash(prev, event_body(row))
        prev = row.hash
        rows.append(row)
    return rows


def test_intact_chain_verifies() -> None:
    rows = _chain(5)
    result = verify_rows(rows)
    assert result.ok and result.checked == 5 and result.head == rows[-1].hash


def test_edit_is_detected() -> None:
    rows = _chain(5)
    rows[2].data = {"n": 99}
    result = verify_rows(rows)
    assert not result.ok and result.broken_at == 3 and result.reason == "hash mismatch"


def test_deletion_is_detected() -> None:
    rows = _chain(5)
    del rows[1]
    assert verify_rows(rows).broken_at == 3


def test_reorder_is_detected() -> None:
    rows = _chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    assert not verify_rows(rows).ok


def test_hash_depends_on_previous() -> None:
    body = event_body(_chain(1)[0])
    assert chain_hash(GENESIS, body) != chain_hash("1" * 64, body)

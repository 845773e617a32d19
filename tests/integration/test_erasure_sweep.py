"""One sweep finishes every erasure that is due, however many: the pending deletions are taken batch by batch."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from ats.db import utcnow
from ats.models import PendingDeletion
from ats.runtime import Runtime
from ats.services import erasure
from tests.conftest import Account


async def test_a_sweep_drains_more_due_erasures_than_one_batch(account: Account, runtime: Runtime) -> None:
    long_ago = utcnow() - timedelta(days=3)  # past every upload form's expiry: the final pass deletes the row
    objects = []
    async with runtime.transaction() as session:
        for _ in range(7):
            application_id = uuid.uuid4()
            prefix = f"{account.id}/{application_id}/"
            key = f"{prefix}documents/late.pdf"  # what a form issued before the erasure could still have written
            runtime.documents.client.put_object(Bucket=runtime.settings.s3_bucket, Key=key, Body=b"%PDF-1.4")
            objects.append(key)
            session.add(
                PendingDeletion(
                    account_id=account.id,
                    application_id=application_id,
                    prefix=prefix,
                    attempts=0,
                    created_at=long_ago,
                    next_attempt_at=long_ago,
                )
            )
    removed = await erasure.process_pending(
        runtime.uow,
        runtime.documents,
        upload_url_ttl=runtime.settings.upload_url_ttl,
        account_id=account.id,
        batch=3,
    )
    assert removed == 7
    async with runtime.transaction() as session:
        left = await session.scalar(
            select(func.count()).select_from(PendingDeletion).where(PendingDeletion.account_id == account.id)
        )
    assert left == 0
    for key in objects:
        listing = runtime.documents.client.list_objects_v2(Bucket=runtime.settings.s3_bucket, Prefix=key)
        assert listing.get("KeyCount", 0) == 0

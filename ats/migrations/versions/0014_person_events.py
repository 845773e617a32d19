"""a person's events and webhook deliveries by candidate: redacted on erasure, listed in their export

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f('ix_outbox_events_account_id_candidate_id'), 'outbox_events', ['account_id', 'candidate_id'], unique=False
    )
    op.create_index(op.f('ix_webhook_deliveries_ordering_key'), 'webhook_deliveries', ['ordering_key'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_webhook_deliveries_ordering_key'), table_name='webhook_deliveries')
    op.drop_index(op.f('ix_outbox_events_account_id_candidate_id'), table_name='outbox_events')

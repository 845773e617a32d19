"""outbox: domain events written in the transaction of their change, numbered per account (§12)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'event_positions',
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('last', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_event_positions_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_event_positions')),
    )
    op.create_table(
        'outbox_events',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('application_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('job_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('candidate_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_outbox_events_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_events')),
        sa.UniqueConstraint('account_id', 'position', name=op.f('uq_outbox_events_account_id_position')),
    )
    op.create_index(op.f('ix_outbox_events_occurred_at'), 'outbox_events', ['occurred_at'], unique=False)
    op.create_index(
        op.f('ix_outbox_events_account_id_application_id'),
        'outbox_events',
        ['account_id', 'application_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_outbox_events_account_id_application_id'), table_name='outbox_events')
    op.drop_index(op.f('ix_outbox_events_occurred_at'), table_name='outbox_events')
    op.drop_table('outbox_events')
    op.drop_table('event_positions')

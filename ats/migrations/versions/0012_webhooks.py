"""webhooks: subscriptions, the fan-out cursor per account, deliveries and their attempts (§12)

Revision ID: 0012
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('events', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('job_ids', postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=False),
        sa.Column('statuses', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('disabled_reason', sa.String(length=16), nullable=True),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('previous_secret', sa.String(length=100), nullable=True),
        sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('from_position', sa.BigInteger(), nullable=False),
        sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_webhook_subscriptions_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    )
    op.create_index(
        op.f('ix_webhook_subscriptions_account_id_created_at'),
        'webhook_subscriptions',
        ['account_id', 'created_at'],
        unique=False,
    )
    op.create_table(
        'webhook_cursors',
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('last_position', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_webhook_cursors_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_webhook_cursors')),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('subscription_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('event_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('application_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('ordering_key', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('leased_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('last_status_code', sa.SmallInteger(), nullable=True),
        sa.Column('last_error', sa.String(length=300), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_deliveries_status')),
        sa.ForeignKeyConstraint(
            ['subscription_id'],
            ['webhook_subscriptions.id'],
            name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_deliveries_subscription_id_event_id')),
    )
    op.create_index(
        'ix_webhook_deliveries_due',
        'webhook_deliveries',
        ['subscription_id', 'next_attempt_at', 'position'],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        'ix_webhook_deliveries_in_flight',
        'webhook_deliveries',
        ['subscription_id'],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND lease IS NOT NULL"),
    )
    op.create_index(
        'ix_webhook_deliveries_pending_order',
        'webhook_deliveries',
        ['subscription_id', 'ordering_key', 'position'],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f('ix_webhook_deliveries_subscription_id_created_at'),
        'webhook_deliveries',
        ['subscription_id', 'created_at'],
        unique=False,
    )
    op.create_index(op.f('ix_webhook_deliveries_application_id'), 'webhook_deliveries', ['application_id'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_created_at'), 'webhook_deliveries', ['created_at'], unique=False)
    op.create_table(
        'webhook_attempts',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('delivery_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.SmallInteger(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['delivery_id'],
            ['webhook_deliveries.id'],
            name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    )
    op.create_index(
        op.f('ix_webhook_attempts_delivery_id_attempted_at'),
        'webhook_attempts',
        ['delivery_id', 'attempted_at'],
        unique=False,
    )
    op.create_index(op.f('ix_webhook_attempts_attempted_at'), 'webhook_attempts', ['attempted_at'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_cursors')
    op.drop_index(op.f('ix_webhook_subscriptions_account_id_created_at'), table_name='webhook_subscriptions')
    op.drop_table('webhook_subscriptions')

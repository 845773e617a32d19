"""the change feed's updated_since: applications and job postings by (account, updated_at)

Revision ID: 0013
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f('ix_applications_account_id_updated_at'), 'applications', ['account_id', 'updated_at'], unique=False
    )
    op.create_index(
        op.f('ix_job_postings_account_id_updated_at'), 'job_postings', ['account_id', 'updated_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_job_postings_account_id_updated_at'), table_name='job_postings')
    op.drop_index(op.f('ix_applications_account_id_updated_at'), table_name='applications')

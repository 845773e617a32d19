"""documents: until when a presigned form may still write the document's staging object

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('documents', sa.Column('staged_until', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_documents_staged_until'), 'documents', ['staged_until'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_documents_staged_until'), table_name='documents')
    op.drop_column('documents', 'staged_until')

"""accounts: the controller's details an Art. 15 GDPR export names

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ('controller_name', 200),
    ('controller_email', 320),
    ('controller_address', 500),
    ('controller_dpo_email', 320),
    ('supervisory_authority', 500),
)


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column('accounts', sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column('accounts', name)

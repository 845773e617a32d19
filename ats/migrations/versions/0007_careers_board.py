"""careers board: accounts.board_slug (unique, backfilled from the name) and accounts.board_origins

Revision ID: 0007
Revises: 0006
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$"


def _slugify(name: str) -> str:
    # Frozen copy of ats.careers.slugify as of this revision.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:63].rstrip("-")
    return slug if re.match(SLUG_PATTERN, slug) else "board"


def upgrade() -> None:
    op.add_column('accounts', sa.Column('board_slug', sa.String(length=63), nullable=True))
    op.add_column(
        'accounts',
        sa.Column('board_origins', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    )
    connection = op.get_bind()
    taken: set[str] = set()
    rows = connection.execute(sa.text("SELECT id, name FROM accounts ORDER BY created_at, id")).all()
    for account_id, name in rows:
        base = _slugify(name)
        slug, n = base, 1
        while slug in taken:
            n += 1
            suffix = f"-{n}"
            slug = base[: 63 - len(suffix)].rstrip("-") + suffix
        taken.add(slug)
        connection.execute(sa.text("UPDATE accounts SET board_slug = :slug WHERE id = :id"), {"slug": slug, "id": account_id})
    op.alter_column('accounts', 'board_slug', nullable=False)
    op.create_unique_constraint(op.f('uq_accounts_board_slug'), 'accounts', ['board_slug'])
    op.create_check_constraint(op.f('ck_accounts_board_slug'), 'accounts', f"board_slug ~ '{SLUG_PATTERN}'")
    op.create_index('ix_accounts_board_origins', 'accounts', ['board_origins'], unique=False, postgresql_using='gin')


def downgrade() -> None:
    op.drop_index('ix_accounts_board_origins', table_name='accounts', postgresql_using='gin')
    op.drop_constraint(op.f('ck_accounts_board_slug'), 'accounts', type_='check')
    op.drop_constraint(op.f('uq_accounts_board_slug'), 'accounts', type_='unique')
    op.drop_column('accounts', 'board_origins')
    op.drop_column('accounts', 'board_slug')

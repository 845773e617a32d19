"""look-alike names in one city from one index: (lower(city), lower(name) trigrams), btree_gin for the city

The duplicate lookup's name branch (§13) asks for a similar name in the same city. With the name's trigram index
alone, a common first or last name at 1M candidates matched ~20,000 rows in every city, each fetched from the heap
and then dropped by the city (~240 ms). One GIN index over both columns finds only the city's rows.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        'ix_candidates_city_name_trgm',
        'candidates',
        [sa.text('lower(city)'), sa.text('lower(name) gin_trgm_ops')],
        postgresql_using='gin',
    )
    op.drop_index('ix_candidates_name_trgm', table_name='candidates')


def downgrade() -> None:
    op.create_index(
        'ix_candidates_name_trgm', 'candidates', [sa.text('lower(name) gin_trgm_ops')], postgresql_using='gin'
    )
    op.drop_index('ix_candidates_city_name_trgm', table_name='candidates')

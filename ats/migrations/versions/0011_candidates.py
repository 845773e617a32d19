"""candidates: the person behind applications (one per account and lower(email)); candidate_merges for undo

Existing applications become candidates, one per (account, lower(email)), holding the person as their latest
application gave it; each application then names its candidate.

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'candidates',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('account_id', sa.UUID(), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('salutation', sa.String(length=50), nullable=True),
        sa.Column('first_name', sa.String(length=150), nullable=True),
        sa.Column('last_name', sa.String(length=150), nullable=True),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('emails', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('phones', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('street', sa.String(length=300), nullable=True),
        sa.Column('postal_code', sa.String(length=20), nullable=True),
        sa.Column('city', sa.String(length=150), nullable=True),
        sa.Column('country', sa.String(length=100), nullable=True),
        sa.Column('links', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=True),
        sa.Column('consent_privacy_policy', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('consent_privacy_policy_version', sa.String(length=50), nullable=True),
        sa.Column('consent_talent_pool', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('consented_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('consent_ip', sa.String(length=64), nullable=True),
        sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
        # Set on a person merged into another: the row keeps only the email (so an apply with it finds the
        # survivor) until the merge is undone; the merge record keeps the rest.
        sa.Column('merged_into_id', sa.UUID(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_candidates_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_candidates')),
    )
    op.create_index(
        'uq_candidates_account_id_email', 'candidates', ['account_id', sa.text('lower(email)')], unique=True
    )
    op.create_index('ix_candidates_account_id_created_at_id', 'candidates', ['account_id', 'created_at', 'id'])
    op.create_index('ix_candidates_account_id_updated_at_id', 'candidates', ['account_id', 'updated_at', 'id'])
    op.create_index(op.f('ix_candidates_merged_into_id'), 'candidates', ['merged_into_id'])
    op.create_index('ix_candidates_tags', 'candidates', ['tags'], postgresql_using='gin')
    op.create_index('ix_candidates_phones', 'candidates', ['phones'], postgresql_using='gin')
    op.create_index('ix_candidates_links', 'candidates', ['links'], postgresql_using='gin')
    op.create_index('ix_candidates_emails', 'candidates', ['emails'], postgresql_using='gin')
    op.create_index(
        'ix_candidates_name_trgm', 'candidates', [sa.text('lower(name) gin_trgm_ops')], postgresql_using='gin'
    )
    op.create_index(
        'ix_candidates_search_trgm',
        'candidates',
        [sa.text("lower(name || ' ' || email) gin_trgm_ops")],
        postgresql_using='gin',
    )

    op.create_table(
        'candidate_merges',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('account_id', sa.UUID(), nullable=False),
        sa.Column('survivor_id', sa.UUID(), nullable=False),
        sa.Column('merged_id', sa.UUID(), nullable=False),
        sa.Column('merged_by', sa.UUID(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_candidate_merges_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_candidate_merges')),
    )
    op.create_index(op.f('ix_candidate_merges_account_id_survivor_id'), 'candidate_merges', ['account_id', 'survivor_id'])
    op.create_index(op.f('ix_candidate_merges_account_id_merged_id'), 'candidate_merges', ['account_id', 'merged_id'])

    op.add_column('applications', sa.Column('candidate_id', sa.UUID(), nullable=True))
    op.add_column('applications', sa.Column('utm_source', sa.String(length=100), nullable=True))
    op.add_column('applications', sa.Column('utm_medium', sa.String(length=100), nullable=True))
    op.add_column('applications', sa.Column('utm_campaign', sa.String(length=100), nullable=True))
    op.add_column('applications', sa.Column('referrer_id', sa.UUID(), nullable=True))
    # One candidate per (account, lower(email)), holding the person as the latest application gave it.
    op.execute(
        """
        INSERT INTO candidates (id, account_id, name, salutation, first_name, last_name, email, emails, phones,
                                street, postal_code, city, country, source, consent_privacy_policy,
                                consent_privacy_policy_version, consent_talent_pool, consented_at, consent_ip,
                                created_at, updated_at)
        SELECT gen_random_uuid(), latest.account_id, latest.name, latest.salutation, latest.first_name,
               latest.last_name, latest.email, ARRAY[latest.email],
               CASE WHEN latest.phone IS NULL OR regexp_replace(latest.phone, '[^0-9+]', '', 'g') = '' THEN '{}'
                    ELSE ARRAY[regexp_replace(latest.phone, '[^0-9+]', '', 'g')] END,
               latest.street, latest.postal_code, latest.city, latest.country, latest.source,
               latest.consent_privacy_policy, latest.consent_privacy_policy_version, latest.consent_talent_pool,
               latest.consented_at, latest.consent_ip, first.created_at, latest.updated_at
        FROM (SELECT DISTINCT ON (account_id, lower(email)) *
              FROM applications ORDER BY account_id, lower(email), created_at DESC, id DESC) AS latest
        JOIN (SELECT account_id, lower(email) AS email_key, min(created_at) AS created_at
              FROM applications GROUP BY account_id, lower(email)) AS first
          ON first.account_id = latest.account_id AND first.email_key = lower(latest.email)
        """
    )
    op.execute(
        """
        UPDATE applications AS a SET candidate_id = c.id
        FROM candidates AS c WHERE c.account_id = a.account_id AND lower(c.email) = lower(a.email)
        """
    )
    op.alter_column('applications', 'candidate_id', nullable=False)
    op.create_foreign_key(
        op.f('fk_applications_candidate_id_candidates'),
        'applications',
        'candidates',
        ['candidate_id'],
        ['id'],
        ondelete='RESTRICT',
    )
    op.create_index(op.f('ix_applications_candidate_id'), 'applications', ['candidate_id'])
    # The account's controlled list of sources a recruiter picks from (empty: any text, as before).
    op.add_column(
        'accounts',
        sa.Column('application_sources', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column('accounts', 'application_sources')
    op.drop_index(op.f('ix_applications_candidate_id'), table_name='applications')
    op.drop_constraint(op.f('fk_applications_candidate_id_candidates'), 'applications', type_='foreignkey')
    for column in ('referrer_id', 'utm_campaign', 'utm_medium', 'utm_source', 'candidate_id'):
        op.drop_column('applications', column)
    op.drop_table('candidate_merges')
    op.drop_table('candidates')

"""Typed SQLAlchemy models. Relationships are ``lazy="raise"``: every query says what it loads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .careers import SLUG_PATTERN
from .db import Base, new_id, utcnow
from .pipeline import STATUSES, rank_sql
from .roles import ROLES
from .vocabulary import DOCUMENT_TYPES, EMPLOYMENT_TYPES, JOB_STATUSES, UPLOAD_STATUSES

_ROLE_CHECK = "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


def _account_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(f"board_slug ~ '{SLUG_PATTERN}'", name="board_slug"),
        Index("ix_accounts_board_origins", "board_origins", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = _created()
    # The public careers board: its slug (``filter[board]``) and the browser origins allowed to call /public/v1.
    board_slug: Mapped[str] = mapped_column(String(63), nullable=False, unique=True)
    board_origins: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    # The controller's details an export names (Art. 15 GDPR); unset, the export falls back to ``name``.
    controller_name: Mapped[str | None] = mapped_column(String(200))
    controller_email: Mapped[str | None] = mapped_column(String(320))
    controller_address: Mapped[str | None] = mapped_column(String(500))
    controller_dpo_email: Mapped[str | None] = mapped_column(String(320))
    supervisory_authority: Mapped[str | None] = mapped_column(String(500))
    #: The controlled list a recruiter's ``source`` comes from (§13); empty, any text is taken.
    application_sources: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_account_id_email", "account_id", func.lower(text("email")), unique=True),
        CheckConstraint(_ROLE_CHECK, name="role"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_ROLE_CHECK, name="role"), Index(None, "account_id"))

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthToken(Base):
    """Access and refresh tokens of users, stored as SHA-256 hashes."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('access', 'refresh')", name="kind"),
        Index(None, "user_id"),
        Index(None, "family_id"),
        Index(None, "expires_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only (triggers refuse UPDATE, DELETE, TRUNCATE); hash-chained per account by ``seq``."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("account_id", "seq"),
        Index(None, "account_id", "action", "at"),
        Index(None, "account_id", "object_id"),
        Index(None, "account_id", "actor_id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditCheckpoint(Base):
    """Append-only index of the signed checkpoints in S3 (``hash`` is the checkpoint's own hash)."""

    __tablename__ = "audit_checkpoints"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class JobPosting(Base):
    __tablename__ = "job_postings"
    __table_args__ = (
        CheckConstraint(_in("employment_type", EMPLOYMENT_TYPES), name="employment_type"),
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        Index(None, "account_id", "status", "created_at"),
        Index("ix_job_postings_hiring_team", "hiring_team", postgresql_using="gin"),
        Index(None, "account_id", "updated_at"),  # updated_since
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    department: Mapped[str | None] = mapped_column(String(300))
    employment_type: Mapped[str] = mapped_column(String(32), nullable=False, default="full_time")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hiring_team: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")
    )
    application_questions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'")
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Stage(Base):
    """One per status per account, created with the account."""

    __tablename__ = "stages"
    __table_args__ = (
        UniqueConstraint("account_id", "status"),
        CheckConstraint(_in("status", STATUSES), name="status"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(SmallInteger, nullable=False)


class Candidate(Base):
    """A person in one account; their applications link to them. One per account and ``lower(email)``."""

    __tablename__ = "candidates"
    __table_args__ = (
        Index("uq_candidates_account_id_email", "account_id", func.lower(text("email")), unique=True),
        Index(None, "account_id", "created_at", "id"),
        Index(None, "account_id", "updated_at", "id"),
        Index("ix_candidates_tags", "tags", postgresql_using="gin"),
        Index("ix_candidates_phones", "phones", postgresql_using="gin"),
        Index("ix_candidates_links", "links", postgresql_using="gin"),
        Index("ix_candidates_emails", "emails", postgresql_using="gin"),
        # the duplicate lookup's similar name in the same city, nearest first (btree_gist for the city)
        Index(
            "ix_candidates_city_name_trgm",
            func.lower(text("city")),
            text("lower(name) gist_trgm_ops"),
            postgresql_using="gist",
        ),
        Index("ix_candidates_search_trgm", text("lower(name || ' ' || email) gin_trgm_ops"), postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    salutation: Mapped[str | None] = mapped_column(String(50))
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    #: The primary email; ``emails`` holds every email the person used (the primary first).
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    #: E.164 where the number could be parsed, else its digits (what duplicate matching compares).
    phones: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    street: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(150))
    country: Mapped[str | None] = mapped_column(String(100))
    links: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    source: Mapped[str | None] = mapped_column(String(100))
    consent_privacy_policy: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    consent_privacy_policy_version: Mapped[str | None] = mapped_column(String(50))
    consent_talent_pool: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_ip: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    #: Set on a person merged into another: the row keeps only the email (an apply with it finds the survivor)
    #: until the merge is undone; the merge record keeps the rest.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class CandidateMerge(Base):
    """A merge of ``merged_id`` into ``survivor_id``, with what undo needs (wiped when either is erased)."""

    __tablename__ = "candidate_merges"
    __table_args__ = (Index(None, "account_id", "survivor_id"), Index(None, "account_id", "merged_id"))

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    survivor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    merged_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    merged_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created()
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Application(Base):
    """One person applying to one job posting; every personal field of the candidate lives here."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        Index("uq_applications_job_id_email", "job_id", func.lower(text("email")), unique=True),
        Index(None, "account_id", "created_at", "id"),
        Index(None, "account_id", "job_id", "created_at", "id"),
        Index(None, "account_id", "job_id", "status", "created_at", "id"),
        Index(None, "account_id", "status", "created_at", "id"),
        Index(None, "account_id", "status_rank", "id"),
        Index("ix_applications_account_id_lower_name", "account_id", func.lower(text("name")), "id"),
        Index(
            "ix_applications_search_trgm",
            text("lower(name || ' ' || email) gin_trgm_ops"),
            postgresql_using="gin",
        ),
        Index(None, "account_id", "status", "status_changed_at"),
        Index(None, "account_id", "updated_at"),  # updated_since
        Index(None, "candidate_id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("job_postings.id", ondelete="RESTRICT"), nullable=False
    )
    candidate_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("candidates.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    status_rank: Mapped[int] = mapped_column(SmallInteger, Computed(rank_sql(), persisted=True))
    previous_status: Mapped[str | None] = mapped_column(String(16))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    salutation: Mapped[str | None] = mapped_column(String(50))
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(50))
    street: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(150))
    country: Mapped[str | None] = mapped_column(String(100))
    cover_letter: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    source: Mapped[str | None] = mapped_column(String(100))
    utm_source: Mapped[str | None] = mapped_column(String(100))
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    referrer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    consent_privacy_policy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consent_privacy_policy_version: Mapped[str | None] = mapped_column(String(50))
    consent_talent_pool: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_ip: Mapped[str | None] = mapped_column(String(64))
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rating_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


def _application_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("applications.id", ondelete="CASCADE"), nullable=False)


class StatusChange(Base):
    __tablename__ = "status_history"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        Index(None, "application_id", "changed_at"),
        Index(None, "account_id", "status", "changed_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    application_id: Mapped[uuid.UUID] = _application_fk()
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    changed_by_name: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(500))


class Note(Base):
    __tablename__ = "notes"
    __table_args__ = (Index(None, "application_id", "created_at"),)

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    application_id: Mapped[uuid.UUID] = _application_fk()
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    author_name: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    internal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Rating(Base):
    """One reviewer's rating of one application, replaced on repeat."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    application_id: Mapped[uuid.UUID] = _application_fk()
    reviewer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    reviewer_name: Mapped[str | None] = mapped_column(String(200))
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    criteria: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Document(Base):
    """A file of an application; its bytes live in S3 under a server-generated key."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(_in("type", DOCUMENT_TYPES), name="type"),
        CheckConstraint(_in("upload_status", UPLOAD_STATUSES), name="upload_status"),
        Index(None, "application_id", "created_at"),
        Index(None, "upload_status", "created_at"),
        Index(None, "staged_until"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    application_id: Mapped[uuid.UUID] = _application_fk()
    type: Mapped[str] = mapped_column(String(16), nullable=False, default="other")
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    extension: Mapped[str] = mapped_column(String(8), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    upload_status: Mapped[str] = mapped_column(String(16), nullable=False, default="uploading")
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    upload_token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Until when a presigned form may still write the staging object; cleared once the sweep removed it.
    staged_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """A public request's ``Idempotency-Key``: claimed in the request's transaction, replayed after."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "created_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope: Mapped[str] = mapped_column(String(50), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # The application the stored response describes: erasure removes the response with it.
    resource_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _created()


class PendingDeletion(Base):
    """Objects still to be removed from S3 after an erasure: a durable promise, retried until kept."""

    __tablename__ = "pending_deletions"
    __table_args__ = (Index(None, "next_attempt_at"),)

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    application_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    prefix: Mapped[str] = mapped_column(String(300), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class EventPosition(Base):
    """The last outbox position handed out per account; its row lock orders an account's events by commit."""

    __tablename__ = "event_positions"

    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    last: Mapped[int] = mapped_column(BigInteger, nullable=False)


class OutboxEvent(Base):
    """A domain event written in the transaction of its change (§12): the source of webhooks and the feed.

    ``position`` increases per account in commit order. ``data`` is the state at ``occurred_at``; an
    erasure replaces the ``data`` of the erased person's events with ids only.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        UniqueConstraint("account_id", "position"),
        Index(None, "occurred_at"),
        Index(None, "account_id", "application_id"),
        Index(None, "account_id", "candidate_id"),  # a person's events, redacted when they are erased
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # no foreign keys: an erased application's tombstone outlives it
    application_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    candidate_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class WebhookSubscription(Base):
    """Where an account's events are posted (§12), signed with ``secret`` (and ``previous_secret`` until it expires).

    Events after ``from_position`` (the account's last position when it was created) are delivered to it.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index(None, "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = _account_fk()
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    job_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    statuses: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # why the service turned it off: ``gone`` (the receiver answered 410) or ``failing`` (5 days of failures)
    disabled_reason: Mapped[str | None] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    from_position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class WebhookCursor(Base):
    """The last outbox position of an account fanned out to its subscriptions' deliveries."""

    __tablename__ = "webhook_cursors"

    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    last_position: Mapped[int] = mapped_column(BigInteger, nullable=False)


class WebhookDelivery(Base):
    """One event to one subscription: its body serialised once, retried until delivered or given up.

    ``status``: ``pending`` (due at ``next_attempt_at``; in flight while ``leased_until`` is ahead), ``delivered``,
    ``failed``. ``ordering_key`` (the application, else the candidate, else the job) keeps an application's events
    in position order per subscription.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index(
            "ix_webhook_deliveries_due",
            "subscription_id",
            "next_attempt_at",
            "position",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_webhook_deliveries_in_flight",
            "subscription_id",
            postgresql_where=text("status = 'pending' AND lease IS NOT NULL"),
        ),
        Index(
            "ix_webhook_deliveries_pending_order",
            "subscription_id",
            "ordering_key",
            "position",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(None, "subscription_id", "created_at"),
        Index(None, "application_id"),
        Index(None, "ordering_key"),  # a person's deliveries (candidate events), for their export and erasure
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    application_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ordering_key: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One try of a delivery: the delivery log (kept 30 days)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "attempted_at"), Index(None, "attempted_at"))

    id: Mapped[uuid.UUID] = _pk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

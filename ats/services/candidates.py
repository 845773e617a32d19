"""Candidates (§13): the person behind applications — attach on apply, read, list, edit, tags, data subjects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, func, literal_column, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, events, payloads
from ..auth import Principal
from ..candidate_rules import MAX_LINKS, MAX_TAGS, email_key, normalise_link, normalise_phone, normalise_tag, unite
from ..db import constraint_name, new_id, utcnow
from ..errors import AlreadyExists, FieldError, NotFound, ValidationFailed
from ..models import Application, Candidate, JobPosting
from ..roles import Permission
from ..statements import Compiled
from ..views import Address, CandidateApplication, CandidateView, Consent, JobRef, TagCount
from ..vocabulary import is_email
from .access import application_scope, candidate_scope
from .cursor import Cursor, decode_cursor, encode_cursor
from .jobs import escape_like

UNIQUE_EMAIL = "uq_candidates_account_id_email"
CONSENT_COLUMNS = (
    "consent_privacy_policy",
    "consent_privacy_policy_version",
    "consent_talent_pool",
    "consented_at",
    "consent_ip",
)
PERSON_COLUMNS = ("name", "salutation", "first_name", "last_name", "street", "postal_code", "city", "country")


def attach_statement(values: dict[str, Any]) -> Any:
    """Insert the person, or find them by ``(account_id, lower(email))``: one statement, race-free.

    On a known email the row is touched (``updated_at``, a phone not yet known added, the consent given with
    this apply), which row-locks it until the apply commits: an erasure of that person waits for the apply and
    erases it too, or runs first and this statement's retry inserts a fresh person.
    """
    stmt = insert(Candidate).values(**values)
    excluded = stmt.excluded
    fresh_consent = excluded.consented_at.is_not(None)
    return stmt.on_conflict_do_update(
        index_elements=[Candidate.account_id, func.lower(Candidate.email)],
        set_={
            "updated_at": excluded.updated_at,
            "phones": case(
                (excluded.phones.contained_by(Candidate.phones), Candidate.phones),
                else_=Candidate.phones.concat(excluded.phones),
            ),
            **{c: case((fresh_consent, getattr(excluded, c)), else_=getattr(Candidate, c)) for c in CONSENT_COLUMNS},
        },
    ).returning(
        # A person merged into another keeps their email's row: the application goes to the survivor.
        func.coalesce(Candidate.merged_into_id, Candidate.id).label("id"),
        literal_column("xmax = 0").label("inserted"),
    )


#: The upsert compiled once per set of columns given (with or without the consent of an apply).
_ATTACH: dict[tuple[str, ...], Compiled] = {}


async def attach(
    session: AsyncSession,
    account_id: uuid.UUID,
    person: dict[str, Any],
    *,
    source: str | None,
    consent: dict[str, Any] | None,
    now: datetime,
    application: CandidateApplication | None = None,
) -> uuid.UUID:
    """The candidate of an application being created: the known person of this email, or a new one.

    A new person's ``candidate.created`` is built from what was inserted (no statement), with ``application``,
    the one being created, as their applications.
    """
    email = str(person["email"]).strip()
    phone = normalise_phone(person.get("phone"))
    values: dict[str, Any] = {
        "id": new_id(),
        "account_id": account_id,
        "email": email,
        "emails": [email],
        "phones": [phone] if phone else [],
        "source": source,
        "created_at": now,
        "updated_at": now,
        **{c: (person.get(c) or None) for c in PERSON_COLUMNS},
        **(consent or {"consent_privacy_policy": False, "consent_talent_pool": False}),
    }
    values["name"] = str(person["name"]).strip()
    shape = tuple(values)
    compiled = _ATTACH.get(shape)
    if compiled is None:
        compiled = _ATTACH[shape] = Compiled(attach_statement({k: bindparam(k) for k in shape}))
    row = await compiled.first(session, values)
    assert row is not None, "an upsert returns its row"
    candidate_id: uuid.UUID = row[0]
    if row[1]:  # inserted
        created = Candidate(**values, links=[], tags=[], version=1)
        view = _view(created, [application] if application is not None else [])
        events.queue(
            session,
            "candidate.created",
            data=payloads.candidate(view),
            account_id=account_id,
            candidate_id=candidate_id,
        )
    else:
        # A known person: touched (and maybe given a phone, a consent) and given this application. Integrations
        # learn whose application it is from this event only (the application embeds the person as given).
        await events.lock_for_payload(session, account_id)
        known = await session.scalar(
            select(Candidate).where(Candidate.id == candidate_id).execution_options(populate_existing=True)
        )
        if known is not None:
            (view,) = await admin_views(session, [known])
            if application is not None and application.id not in {a.id for a in view.applications}:
                view.applications.append(application)
            events.queue(
                session,
                "candidate.updated",
                data=payloads.candidate(view),
                account_id=account_id,
                candidate_id=candidate_id,
            )
    return candidate_id


# ---- reading ----


def _view(row: Candidate, applications: list[CandidateApplication]) -> CandidateView:
    return CandidateView(
        id=row.id,
        name=row.name,
        salutation=row.salutation,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        emails=list(row.emails),
        phones=list(row.phones),
        address=Address(row.street, row.postal_code, row.city, row.country),
        links=list(row.links),
        tags=list(row.tags),
        source=row.source,
        consent=Consent(
            row.consent_privacy_policy,
            row.consent_privacy_policy_version,
            row.consent_talent_pool,
            row.consented_at,
            row.consent_ip,
        ),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        applications=applications,
    )


async def views_of(session: AsyncSession, principal: Principal, rows: list[Candidate]) -> list[CandidateView]:
    """Candidates with the applications the caller may see, in one more statement."""
    return await _with_applications(session, rows, application_scope(principal))


async def admin_views(session: AsyncSession, rows: list[Candidate]) -> list[CandidateView]:
    """Candidates as an admin reads them (every application of theirs): what their events carry (§12)."""
    if not rows:
        return []
    return await _with_applications(session, rows, Application.account_id == rows[0].account_id)


async def _with_applications(
    session: AsyncSession, rows: list[Candidate], scope: ColumnElement[bool]
) -> list[CandidateView]:
    if not rows:
        return []
    found = await session.execute(
        select(Application.candidate_id, Application.id, Application.job_id, JobPosting.title, Application.status)
        .join(JobPosting, JobPosting.id == Application.job_id)
        .where(Application.candidate_id.in_([r.id for r in rows]), scope)
        .order_by(Application.created_at, Application.id)
    )
    by_candidate: dict[uuid.UUID, list[CandidateApplication]] = {}
    for a in found:
        by_candidate.setdefault(a.candidate_id, []).append(
            CandidateApplication(a.id, JobRef(a.job_id, a.title), a.status)
        )
    return [_view(r, by_candidate.get(r.id, [])) for r in rows]


async def get_row(
    session: AsyncSession,
    principal: Principal,
    candidate_id: uuid.UUID,
    *,
    permission: Permission = Permission.READ,
    lock: bool = False,
) -> Candidate:
    """A candidate the caller may see (404 otherwise); then ``permission`` must hold (403)."""
    query = select(Candidate).where(Candidate.id == candidate_id, candidate_scope(principal))
    if lock:
        query = query.with_for_update(of=Candidate)
    row = await session.scalar(query)
    if row is None:
        raise NotFound("No such candidate")
    principal.scope(permission)
    return row


async def get_view(session: AsyncSession, principal: Principal, candidate_id: uuid.UUID) -> CandidateView:
    principal.scope(Permission.READ)
    row = await get_row(session, principal, candidate_id)
    return (await views_of(session, principal, [row]))[0]


@dataclass
class CandidateFilters:
    search: str | None = None
    tag: str | None = None
    updated_since: datetime | None = None
    page: int = 1
    per_page: int = 20
    cursor: str | None = None


@dataclass
class CandidatePage:
    views: list[CandidateView]
    total: int
    page: int
    per_page: int
    next_cursor: str | None


def _filters(principal: Principal, filters: CandidateFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [candidate_scope(principal)]
    if filters.search:
        pattern = func.lower("%" + escape_like(filters.search.strip()) + "%")
        where.append(func.lower(Candidate.name + " " + Candidate.email).like(pattern, escape="\\"))
    if filters.tag:
        tag = normalise_tag(filters.tag)
        if tag is None:
            raise ValidationFailed(errors=[FieldError("tag", "is not a valid tag")])
        where.append(Candidate.tags.contains([tag]))
    if filters.updated_since is not None:
        where.append(Candidate.updated_at >= filters.updated_since)
    return where


async def list_candidates(session: AsyncSession, principal: Principal, filters: CandidateFilters) -> CandidatePage:
    """Newest first; keyset when ``cursor`` is given, else page number."""
    principal.scope(Permission.READ)
    where = _filters(principal, filters)
    query: Select[Any] = select(Candidate).where(*where)
    page = filters.page
    if filters.cursor:
        cursor = decode_cursor(filters.cursor)
        if (cursor.orderby, cursor.order) != ("created", "desc") or not isinstance(cursor.value, str):
            raise ValidationFailed(errors=[FieldError("cursor", "is not a cursor this API issued")])
        try:
            value = datetime.fromisoformat(cursor.value)
        except ValueError:
            raise ValidationFailed(errors=[FieldError("cursor", "is not a cursor this API issued")]) from None
        query = query.where(tuple_(Candidate.created_at, Candidate.id) < tuple_(value, cursor.id))
        page, total = cursor.page, cursor.total
    else:
        total = int(await session.scalar(select(func.count()).select_from(Candidate).where(*where)) or 0)
        query = query.offset((page - 1) * filters.per_page)
    rows = list(
        await session.scalars(
            query.order_by(Candidate.created_at.desc(), Candidate.id.desc()).limit(filters.per_page + 1)
        )
    )
    more = len(rows) > filters.per_page
    rows = rows[: filters.per_page]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(Cursor("created", "desc", last.created_at.isoformat(), last.id, page + 1, total))
    return CandidatePage(await views_of(session, principal, rows), total, page, filters.per_page, next_cursor)


# ---- writing ----


def _check_emails(emails: list[str], pointer: str) -> list[str]:
    cleaned = [e.strip() for e in emails]
    problems = [
        FieldError(f"{pointer}/{i}", "must be an email address") for i, e in enumerate(cleaned) if not is_email(e)
    ]
    if not cleaned:
        problems.append(FieldError(pointer, "must hold at least one email"))
    if problems:
        raise ValidationFailed("Invalid emails", errors=problems)
    return unite([], cleaned, email_key)


def _check_phones(phones: list[str]) -> list[str]:
    out: list[str] = []
    for raw in phones:
        phone = normalise_phone(raw)
        if phone and phone not in out:
            out.append(phone)
    return out


def check_tags(tags: list[str], pointer: str = "/tags") -> list[str]:
    """Tags as stored: normalised, each once, at most :data:`MAX_TAGS`; 422 naming each bad one."""
    out: list[str] = []
    problems = []
    for i, raw in enumerate(tags):
        tag = normalise_tag(raw)
        if tag is None:
            problems.append(FieldError(f"{pointer}/{i}", "must be 1-50 letters, digits, spaces or . : + # / -"))
        elif tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        problems.append(FieldError(pointer, f"at most {MAX_TAGS} tags"))
    if problems:
        raise ValidationFailed("Invalid tags", errors=problems)
    return out


async def update(
    session: AsyncSession, principal: Principal, candidate_id: uuid.UUID, changes: dict[str, Any]
) -> Candidate:
    """Change the person's fields (``emails``' first is the primary email; phones are normalised)."""
    row = await get_row(session, principal, candidate_id, permission=Permission.WORK, lock=True)
    if "emails" in changes:
        emails = _check_emails(changes["emails"], "/emails")
        changes["emails"] = emails
        changes["email"] = emails[0]
    if "phones" in changes:
        changes["phones"] = _check_phones(changes["phones"])
    if "links" in changes:
        # Stored as matched (https://host/path, no www., no query): the duplicate check is then one index lookup.
        links = unite([], ["https://" + normalise_link(link) for link in changes["links"] if normalise_link(link)])
        if len(links) > MAX_LINKS:
            raise ValidationFailed(errors=[FieldError("/links", f"at most {MAX_LINKS} links")])
        changes["links"] = links
    if "tags" in changes:
        changes["tags"] = check_tags(changes["tags"])
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
        if not changes["name"]:
            raise ValidationFailed(errors=[FieldError("/name", "must not be empty")])
    changed = sorted(k for k, v in changes.items() if getattr(row, k) != v and k != "email")
    if not changed and changes.get("email", row.email) == row.email:
        return row
    for key, value in changes.items():
        setattr(row, key, value)
    row.version += 1
    row.updated_at = utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_name(exc) != UNIQUE_EMAIL:
            raise
        detail = "Another candidate has this email"
        raise AlreadyExists(detail, errors=[FieldError("/emails/0", detail, "duplicate")]) from None
    await audit.record(
        session,
        principal,
        "candidate.updated",
        object_type="candidate",
        object_id=row.id,
        data={"fields": changed},
    )
    await events.lock_for_payload(session, row.account_id)
    view = (await admin_views(session, [row]))[0]
    events.queue(
        session, "candidate.updated", data=payloads.candidate(view), account_id=row.account_id, candidate_id=row.id
    )
    return row


async def tag_counts(session: AsyncSession, principal: Principal) -> list[TagCount]:
    """Every tag of the account's candidates the caller may see, with how many carry it (most used first)."""
    principal.scope(Permission.READ)
    tag = func.unnest(Candidate.tags).label("tag")
    inner = select(tag).where(candidate_scope(principal)).subquery()
    rows = await session.execute(
        select(inner.c.tag, func.count().label("n")).group_by(inner.c.tag).order_by(func.count().desc(), inner.c.tag)
    )
    return [TagCount(r.tag, r.n) for r in rows]


async def data_subjects(session: AsyncSession, principal: Principal, email: str) -> list[CandidateView]:
    """Everyone in the account who used ``email`` (any case): as a candidate's email or on an application."""
    principal.scope(Permission.COMPLIANCE)
    key = email_key(email)
    used_on_application = select(Application.candidate_id).where(
        Application.account_id == principal.account_id, func.lower(Application.email) == key
    )
    any_email: Select[Any] = (
        select(literal_column("1"))
        .select_from(func.unnest(Candidate.emails).alias("e"))
        .where(func.lower(literal_column("e")) == key)
    )
    rows = list(
        await session.scalars(
            select(Candidate)
            .where(
                Candidate.account_id == principal.account_id,
                Candidate.merged_into_id.is_(None),
                or_(func.lower(Candidate.email) == key, any_email.exists(), Candidate.id.in_(used_on_application)),
            )
            .order_by(Candidate.created_at, Candidate.id)
        )
    )
    return await views_of(session, principal, rows)

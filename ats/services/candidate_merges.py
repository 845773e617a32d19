"""Duplicates and merges of candidates (§13): scored look-alikes, a field-by-field merge, and its undo."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, func, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, events, payloads
from ..auth import Principal
from ..candidate_rules import (
    CONSENT_FIELDS,
    LIST_FIELDS,
    SCALAR_FIELDS,
    FieldOutcome,
    duplicate_score,
    email_key,
    merge_fields,
    normalise_link,
    undo_values,
)
from ..db import constraint_name, new_id, utcnow
from ..errors import Conflict, FieldError, NotFound, ValidationFailed
from ..models import Application, Candidate, CandidateMerge
from ..roles import Permission
from ..views import CandidateView
from .access import candidate_scope
from .candidates import UNIQUE_EMAIL, admin_views, get_row, views_of
from .erasure import lock_candidate

MERGED_FIELDS = (*SCALAR_FIELDS, *LIST_FIELDS, *CONSENT_FIELDS)
#: What a merged-away person's row keeps while merged: its email (the unique index finds the survivor with it).
TOMBSTONE: dict[str, Any] = {
    "name": "",
    "salutation": None,
    "first_name": None,
    "last_name": None,
    "emails": [],
    "phones": [],
    "street": None,
    "postal_code": None,
    "city": None,
    "country": None,
    "links": [],
    "tags": [],
    "source": None,
    "consent_privacy_policy": False,
    "consent_privacy_policy_version": None,
    "consent_talent_pool": False,
    "consented_at": None,
    "consent_ip": None,
}
MAX_DUPLICATES = 20


class Duplicate(msgspec.Struct):
    candidate: CandidateView
    score: float
    reasons: list[str]


async def duplicates(session: AsyncSession, principal: Principal, candidate_id: uuid.UUID) -> list[Duplicate]:
    """Likely duplicates of a candidate, best first: same email, same E.164 phone, same profile link, or a
    similar name (``pg_trgm``) in the same city. Each branch is one index lookup."""
    person = await get_row(session, principal, candidate_id)
    scope = candidate_scope(principal)
    keys = [email_key(e) for e in {person.email, *person.emails}]
    name = person.name.lower()
    city = (person.city or "").strip().lower()
    others = Candidate.id != person.id
    branches = [
        select(Candidate.id).where(scope, others, func.lower(Candidate.email).in_(keys)),
        select(Candidate.id).where(scope, others, Candidate.emails.overlap(list({person.email, *person.emails}))),
    ]
    if person.phones:
        branches.append(select(Candidate.id).where(scope, others, Candidate.phones.overlap(list(person.phones))))
    if person.links:
        branches.append(select(Candidate.id).where(scope, others, Candidate.links.overlap(list(person.links))))
    if city and name:
        # Only the best few: a name-only look-alike scores below any shared contact, so no more than
        # MAX_DUPLICATES of them can be answered (a common name in a large city matches hundreds). ``<->`` is
        # 1 - similarity: the GiST index on (city, name) hands them over nearest first and the scan stops.
        similar = (
            select(Candidate.id)
            .where(scope, others, func.lower(Candidate.city) == city, func.lower(Candidate.name).op("%")(name))
            .order_by(func.lower(Candidate.name).op("<->")(name), Candidate.id)
            .limit(MAX_DUPLICATES)
        )
        branches.append(select(similar.subquery().c.id))
    found = union(*branches).subquery()
    similarity = func.similarity(func.lower(Candidate.name), name).label("similarity")
    rows = list(await session.execute(select(Candidate, similarity).where(Candidate.id.in_(select(found.c.id)))))
    scored: list[tuple[float, list[str], Candidate]] = []
    key_set = set(keys)
    for row in rows:
        other: Candidate = row[0]
        reasons: dict[str, float] = {}
        if key_set & {email_key(e) for e in (other.email, *other.emails)}:
            reasons["same_email"] = 1.0
        if set(person.phones) & set(other.phones):
            reasons["same_phone"] = 0.9
        if {normalise_link(v) for v in person.links} & {normalise_link(v) for v in other.links}:
            reasons["same_link"] = 0.9
        if city and (other.city or "").strip().lower() == city and row.similarity >= 0.3:
            reasons["similar_name_same_city"] = round(0.8 * float(row.similarity), 3)  # below a shared contact
        if reasons:
            scored.append((duplicate_score(reasons), sorted(reasons), other))
    scored.sort(key=lambda item: (-item[0], str(item[2].id)))
    scored = scored[:MAX_DUPLICATES]
    views = await views_of(session, principal, [c for _, _, c in scored])
    return [Duplicate(view, score, reasons) for (score, reasons, _), view in zip(scored, views, strict=True)]


# ---- merge ----


class FieldResult(msgspec.Struct):
    field: str
    survivor: Any
    other: Any
    result: Any
    rule: str
    conflict: bool


class PostingConflict(msgspec.Struct):
    """Both people applied to one posting: both applications are kept, and this says so."""

    job_id: uuid.UUID
    applications: list[uuid.UUID]


class MergeResult(msgspec.Struct):
    merge_id: uuid.UUID | None
    dry_run: bool
    candidate: CandidateView
    merged_id: uuid.UUID
    fields: list[FieldResult]
    conflicts: list[PostingConflict]
    moved_applications: list[uuid.UUID]


def _jsonable(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _person(row: Candidate) -> dict[str, Any]:
    return {name: getattr(row, name) for name in MERGED_FIELDS}


def _field_result(outcome: FieldOutcome) -> FieldResult:
    return FieldResult(
        outcome.field,
        _jsonable(outcome.survivor),
        _jsonable(outcome.other),
        _jsonable(outcome.result),
        outcome.rule,
        outcome.conflict,
    )


async def _check_not_merged(session: AsyncSession, principal: Principal, candidate_id: uuid.UUID) -> None:
    """A person already merged away is a 409 naming the merge (not a 404: the id is known)."""
    merged = await session.scalar(
        select(CandidateMerge).where(
            CandidateMerge.account_id == principal.account_id,
            CandidateMerge.merged_id == candidate_id,
            CandidateMerge.undone_at.is_(None),
            CandidateMerge.erased_at.is_(None),
        )
    )
    if merged is not None:
        raise Conflict(
            "This candidate was merged into another already",
            extra={"merge_id": str(merged.id), "survivor_id": str(merged.survivor_id)},
        )


async def _live(session: AsyncSession, principal: Principal, candidate_id: uuid.UUID) -> Candidate:
    try:
        return await get_row(session, principal, candidate_id)
    except NotFound:
        await _check_not_merged(session, principal, candidate_id)
        raise


async def _may_merge(session: AsyncSession, principal: Principal, *candidate_ids: uuid.UUID) -> None:
    """403 for a role that may not merge, but as everywhere a person the caller cannot see is a 404 first."""
    if principal.can(Permission.ADD_CANDIDATES):
        return
    for candidate_id in candidate_ids:
        await _live(session, principal, candidate_id)
    principal.scope(Permission.ADD_CANDIDATES)


async def merge(
    session: AsyncSession, principal: Principal, candidate_id: uuid.UUID, other_id: uuid.UUID, *, dry_run: bool
) -> MergeResult:
    """Merge ``other_id`` into ``candidate_id``: applications (with their notes, ratings, documents) move, fields
    merge field by field, tags unite, the stricter consent wins; nothing is lost (the other's values stay in the
    merge record for an undo). ``dry_run`` changes nothing."""
    await _may_merge(session, principal, candidate_id, other_id)
    if other_id == candidate_id:
        raise ValidationFailed(
            "A candidate cannot be merged with itself",
            errors=[FieldError("/other_id", "must be another candidate", "same_candidate")],
        )
    # Both rows (and rows merged into them) locked in id order: two merges of the same pair cannot interleave.
    for locked in sorted((candidate_id, other_id)):
        await lock_candidate(session, locked)
    survivor = await _live(session, principal, candidate_id)
    other = await _live(session, principal, other_id)
    before_survivor, before_other = _person(survivor), _person(other)
    values, outcomes = merge_fields(before_survivor, before_other)
    pairs = list(
        await session.execute(
            select(Application.job_id, Application.id, Application.candidate_id)
            .where(Application.candidate_id.in_([survivor.id, other.id]))
            .order_by(Application.created_at, Application.id)
        )
    )
    by_job: dict[uuid.UUID, list[uuid.UUID]] = {}
    for job_id, app_id, _ in pairs:
        by_job.setdefault(job_id, []).append(app_id)
    owners = {job_id: {c for j, _, c in pairs if j == job_id} for job_id in by_job}
    conflicts = [PostingConflict(job, ids) for job, ids in by_job.items() if len(owners[job]) > 1]
    moved = [app_id for _, app_id, owner in pairs if owner == other.id]
    merge_id = None
    if not dry_run:
        now = utcnow()
        merge_id = new_id()
        session.add(
            CandidateMerge(
                id=merge_id,
                account_id=survivor.account_id,
                survivor_id=survivor.id,
                merged_id=other.id,
                merged_by=principal.id,
                created_at=now,
                snapshot={
                    "survivor": _jsonable(before_survivor),
                    "other": _jsonable(before_other),
                    "other_created_at": _jsonable(other.created_at),
                    "merged": _jsonable(values),
                    "moved_applications": [str(a) for a in moved],
                },
            )
        )
        await session.execute(
            update(Application).where(Application.candidate_id == other.id).values(candidate_id=survivor.id)
        )
        for name, value in TOMBSTONE.items():
            setattr(other, name, value)
        other.merged_into_id = survivor.id
        other.version += 1
        other.updated_at = now
        for name, value in values.items():
            setattr(survivor, name, value)
        survivor.version += 1
        survivor.updated_at = now
        await session.flush()
        await audit.record(
            session,
            principal,
            "candidate.merged",
            object_type="candidate",
            object_id=survivor.id,
            data={
                "merge_id": str(merge_id),
                "merged_id": str(other.id),
                "applications": len(moved),
                "conflicts": len(conflicts),
            },
        )
        await events.lock_for_payload(session, survivor.account_id)
        (as_admin,) = await admin_views(session, [survivor])
        events.queue(
            session,
            "candidate.merged",
            data=payloads.candidate_merged(as_admin, merged_id=other.id, merge_id=merge_id),
            account_id=survivor.account_id,
            candidate_id=survivor.id,
            merged_id=other.id,
            merge_id=merge_id,
        )
        view = (await views_of(session, principal, [survivor]))[0]
    else:
        view = (await views_of(session, principal, [survivor]))[0]
        for name, value in values.items():
            if name in CONSENT_FIELDS:
                continue
            if hasattr(view, name):
                setattr(view, name, value)
        view.address.street, view.address.postal_code = values["street"], values["postal_code"]
        view.address.city, view.address.country = values["city"], values["country"]
        view.consent.privacy_policy = values["consent_privacy_policy"]
        view.consent.privacy_policy_version = values["consent_privacy_policy_version"]
        view.consent.talent_pool = values["consent_talent_pool"]
        view.consent.consented_at = values["consented_at"]
        view.consent.ip_address = values["consent_ip"]
        other_apps = (await views_of(session, principal, [other]))[0].applications
        view.applications = sorted([*view.applications, *other_apps], key=lambda a: str(a.id))
    return MergeResult(merge_id, dry_run, view, other.id, [_field_result(o) for o in outcomes], conflicts, moved)


# ---- undo ----


_DATETIME_FIELDS = ("consented_at",)


def _restored(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in _DATETIME_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name])
    return out


class UndoResult(msgspec.Struct):
    merge_id: uuid.UUID
    candidate: CandidateView
    restored: CandidateView


async def undo(session: AsyncSession, principal: Principal, merge_id: uuid.UUID, *, undo_days: int) -> UndoResult:
    """Restore both people as they were: the other's row and fields, the applications that moved (and those
    attached since through the other's emails), the survivor's fields the merge set (a field changed since keeps
    its new value). 409 after ``undo_days``, once undone, or when either person was erased."""
    principal.scope(Permission.READ)
    record = await session.scalar(
        select(CandidateMerge)
        .where(CandidateMerge.id == merge_id, CandidateMerge.account_id == principal.account_id)
        .with_for_update()
    )
    if record is None:
        raise NotFound("No such merge")
    await _may_merge(session, principal, record.survivor_id)
    if record.undone_at is not None:
        raise Conflict("This merge was undone already")
    if record.erased_at is not None or record.snapshot is None:
        raise Conflict("One of the merged candidates was erased: the merge cannot be undone")
    if record.created_at < utcnow() - timedelta(days=undo_days):
        raise Conflict(f"A merge can be undone for {undo_days} days; this one is older")
    await lock_candidate(session, record.survivor_id)
    survivor = await session.scalar(select(Candidate).where(Candidate.id == record.survivor_id))
    other = await session.scalar(select(Candidate).where(Candidate.id == record.merged_id))
    if survivor is None or other is None or survivor.merged_into_id is not None:
        raise Conflict("One of the merged candidates was erased or merged again: the merge cannot be undone")
    snapshot = record.snapshot
    before = _restored(snapshot["survivor"])
    merged = _restored(snapshot["merged"])
    now_values = _jsonable(_person(survivor))
    restored = undo_values(_jsonable(before), _jsonable(merged), now_values)
    # The other's applications: those that moved, plus those attached since with one of the other's emails
    # (and none of the survivor's own).
    other_keys = {email_key(e) for e in snapshot["other"]["emails"]}
    own_keys = {email_key(e) for e in snapshot["survivor"]["emails"]}
    attributable = [k for k in other_keys if k not in own_keys]
    moved = [uuid.UUID(a) for a in snapshot["moved_applications"]]
    back: ColumnElement[bool] = Application.id.in_(moved)
    if attributable:
        back = back | and_(func.lower(Application.email).in_(attributable), Application.created_at >= record.created_at)
    returned = list(
        await session.scalars(
            update(Application)
            .where(Application.candidate_id == survivor.id, back)
            .values(candidate_id=other.id)
            .returning(Application.id)
        )
    )
    for name, value in _restored(snapshot["other"]).items():
        setattr(other, name, value)
    other.merged_into_id = None
    other.version += 1
    other.updated_at = utcnow()
    for name, value in _restored(restored).items():
        setattr(survivor, name, value)
    survivor.version += 1
    survivor.updated_at = utcnow()
    record.undone_at = utcnow()
    record.snapshot = None  # nothing kept once both are restored
    try:
        await session.flush()
    except IntegrityError as exc:  # pragma: no cover - the other's email row is kept while merged
        if constraint_name(exc) != UNIQUE_EMAIL:
            raise
        raise Conflict("Another candidate has the merged candidate's email now") from None
    await audit.record(
        session,
        principal,
        "candidate.merge_undone",
        object_type="candidate",
        object_id=survivor.id,
        data={"merge_id": str(record.id), "merged_id": str(other.id), "applications": len(returned)},
    )
    await events.lock_for_payload(session, survivor.account_id)
    as_admin = await admin_views(session, [survivor, other])
    events.queue(
        session,
        "candidate.merge_undone",
        data=payloads.candidate_merge_undone(*as_admin, merged_id=other.id, merge_id=record.id),
        account_id=survivor.account_id,
        candidate_id=survivor.id,
        merged_id=other.id,
        merge_id=record.id,
    )
    views = await views_of(session, principal, [survivor, other])
    return UndoResult(record.id, views[0], views[1])

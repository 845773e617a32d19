"""Candidates (§13): the people behind applications — list, get, edit, tags, data subjects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, patch, post, put
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.errors import FieldError, ValidationFailed
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import candidate_merges, candidates, sources
from ats.views import CandidateView, TagCount
from ats.vocabulary import EMAIL_PATTERN

from .applications import AddressIn
from .deps import account_member, provide_principal, requires
from .paging import check_page, page_meta
from .schemas import Input, Many, One, whole

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Link = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Text150 = Annotated[str, msgspec.Meta(max_length=150)]


class CandidatePatch(Input):
    """Partial: absent fields stay; ``emails``' first is the primary email."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    salutation: Annotated[str, msgspec.Meta(max_length=50)] | msgspec.UnsetType | None = msgspec.UNSET
    first_name: Text150 | msgspec.UnsetType | None = msgspec.UNSET
    last_name: Text150 | msgspec.UnsetType | None = msgspec.UNSET
    emails: Annotated[list[Email], msgspec.Meta(min_length=1, max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    phones: Annotated[list[Phone], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    address: AddressIn | msgspec.UnsetType = msgspec.UNSET
    links: Annotated[list[Link], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    source: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = msgspec.UNSET


class SourcesIn(Input):
    sources: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]], msgspec.Meta(max_length=100)]


class MergeIn(Input):
    other_id: uuid.UUID
    dry_run: bool = False


class TagsIn(Input):
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)]


def _changes(data: CandidatePatch) -> dict[str, Any]:
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    address = changes.pop("address", None)
    if address is not None:
        changes.update(msgspec.to_builtins(address))
    return changes


class CandidateController(Controller):
    path = "/candidates"
    tags = ["candidates"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/", guards=[requires(Permission.READ)])
    async def list_candidates(
        self,
        db_session: AsyncSession,
        principal: Principal,
        search: Annotated[str, msgspec.Meta(max_length=200)] | None = None,
        tag: Annotated[str, msgspec.Meta(max_length=50)] | None = None,
        updated_since: datetime | None = None,
        page: int = 1,
        per_page: int = 20,
        cursor: Annotated[str, msgspec.Meta(max_length=500)] | None = None,
    ) -> Many[CandidateView]:
        """Newest first; ``search`` matches name and email, ``tag`` one tag, ``updated_since`` a time; ``cursor``
        for deep pages."""
        check_page(page, per_page)
        if updated_since is not None and updated_since.tzinfo is None:
            raise ValidationFailed(errors=[FieldError("updated_since", "must carry a time zone (RFC 3339)")])
        result = await candidates.list_candidates(
            db_session,
            principal,
            candidates.CandidateFilters(
                search=search or None,
                tag=tag or None,
                updated_since=updated_since,
                page=page,
                per_page=per_page,
                cursor=cursor,
            ),
        )
        return Many(result.views, page_meta(result.total, result.page, result.per_page, result.next_cursor))

    @get("/{candidate_id:uuid}", guards=[requires(Permission.READ)])
    async def get_candidate(
        self, candidate_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> One[CandidateView]:
        return One(await candidates.get_view(db_session, principal, candidate_id))

    @patch("/{candidate_id:uuid}", guards=[account_member])
    async def patch_candidate(
        self, candidate_id: uuid.UUID, data: CandidatePatch, db_session: AsyncSession, principal: Principal
    ) -> One[CandidateView]:
        await candidates.update(db_session, principal, candidate_id, _changes(data))
        return One(await candidates.get_view(db_session, principal, candidate_id))

    @put("/{candidate_id:uuid}/tags", guards=[account_member])
    async def set_tags(
        self, candidate_id: uuid.UUID, data: TagsIn, db_session: AsyncSession, principal: Principal
    ) -> One[CandidateView]:
        """Replace the candidate's tags (trimmed, lower-cased, each once)."""
        await candidates.update(db_session, principal, candidate_id, {"tags": list(data.tags)})
        return One(await candidates.get_view(db_session, principal, candidate_id))

    @get("/{candidate_id:uuid}/duplicates", guards=[requires(Permission.READ)])
    async def duplicates(
        self, candidate_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> Many[candidate_merges.Duplicate]:
        """Likely duplicates, best first, each with a score (0-1) and its reasons: ``same_email``, ``same_phone``
        (E.164), ``same_link``, ``similar_name_same_city``."""
        return whole(await candidate_merges.duplicates(db_session, principal, candidate_id))

    @post("/{candidate_id:uuid}/merge", status_code=200, guards=[account_member])
    async def merge(
        self, candidate_id: uuid.UUID, data: MergeIn, db_session: AsyncSession, principal: Principal
    ) -> One[candidate_merges.MergeResult]:
        """Merge ``other_id`` into this candidate (``dry_run``: only show the result)."""
        return One(
            await candidate_merges.merge(db_session, principal, candidate_id, data.other_id, dry_run=data.dry_run)
        )


class CandidateMergeController(Controller):
    path = "/candidate-merges"
    tags = ["candidates"]
    dependencies = {"principal": Provide(provide_principal)}

    @post("/{merge_id:uuid}/undo", status_code=200, guards=[account_member])
    async def undo(
        self, merge_id: uuid.UUID, db_session: AsyncSession, principal: Principal, runtime: Runtime
    ) -> One[candidate_merges.UndoResult]:
        """Restore both candidates as they were, within ``ATS_MERGE_UNDO_DAYS``."""
        return One(
            await candidate_merges.undo(db_session, principal, merge_id, undo_days=runtime.settings.merge_undo_days)
        )


class TagController(Controller):
    path = "/tags"
    tags = ["candidates"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/", guards=[requires(Permission.READ)])
    async def list_tags(self, db_session: AsyncSession, principal: Principal) -> Many[TagCount]:
        """Every tag on the account's candidates with how many carry it, most used first."""
        return whole(await candidates.tag_counts(db_session, principal))


class DataSubjectController(Controller):
    path = "/data-subjects"
    tags = ["gdpr"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/", guards=[requires(Permission.COMPLIANCE)])
    async def find(
        self, db_session: AsyncSession, principal: Principal, email: Annotated[str, msgspec.Meta(max_length=320)]
    ) -> Many[CandidateView]:
        """The people who used ``email`` (any case) in this account, as a candidate's email or on an application."""
        if not email.strip():
            raise ValidationFailed(errors=[FieldError("email", "must not be empty")])
        return whole(await candidates.data_subjects(db_session, principal, email))


class SourceController(Controller):
    path = "/sources"
    tags = ["applications"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/", guards=[requires(Permission.READ)])
    async def list_sources(self, db_session: AsyncSession, principal: Principal) -> Many[str]:
        """The account's controlled list of application sources (empty: a recruiter's ``source`` is free text)."""
        return whole(await sources.list_sources(db_session, principal))

    @put("/", guards=[requires(Permission.MANAGE_USERS)])
    async def set_sources(self, data: SourcesIn, db_session: AsyncSession, principal: Principal) -> Many[str]:
        """Replace the list (admin): trimmed, each once; applications keep the source they were given."""
        return whole(await sources.set_sources(db_session, principal, list(data.sources)))

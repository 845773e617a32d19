"""Notes on an application: anyone who may work on it adds them; only the author or an admin edits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..auth import Principal
from ..db import utcnow
from ..errors import Forbidden, NotFound
from ..models import Note
from ..roles import Permission, Role
from .applications import get_application_row, insert_note, queue_note_event, touch


async def add_note(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, *, content: str, internal: bool
) -> Note:
    # Locked: an erasure at the same time waits for this, or this finds the application gone (404).
    application = await get_application_row(session, principal, application_id, permission=Permission.WORK, lock=True)
    return await insert_note(session, application, principal, content, internal=internal)


async def list_notes(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, *, updated_since: datetime | None = None
) -> list[Note]:
    application = await get_application_row(session, principal, application_id)
    query = select(Note).where(Note.application_id == application.id)
    if updated_since is not None:
        query = query.where(Note.updated_at >= updated_since)
    return list(await session.scalars(query.order_by(Note.created_at, Note.id)))


async def _editable_note(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, note_id: uuid.UUID
) -> Note:
    application = await get_application_row(session, principal, application_id)
    note = await session.scalar(
        select(Note).where(Note.id == note_id, Note.application_id == application.id).with_for_update()
    )
    if note is None:
        raise NotFound("No such note")
    principal.scope(Permission.WORK)
    if principal.role != Role.ADMIN and (note.author_id is None or note.author_id != principal.id):
        raise Forbidden("Only the note's author or an admin may change it")
    return note


async def update_note(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    note_id: uuid.UUID,
    *,
    content: str | None = None,
    internal: bool | None = None,
) -> Note:
    note = await _editable_note(session, principal, application_id, note_id)
    changed = []
    if content is not None and content != note.content:
        note.content = content
        changed.append("content")
    if internal is not None and internal != note.internal:
        note.internal = internal
        changed.append("internal")
    if changed:
        note.updated_at = utcnow()
        await session.flush()
        await touch(session, note.application_id)
        await audit.record(
            session,
            principal,
            "note.updated",
            object_type="note",
            object_id=note.id,
            data={"application_id": str(application_id), "fields": changed},
        )
        queue_note_event(session, "note.updated", note)
    return note


async def delete_note(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, note_id: uuid.UUID
) -> None:
    note = await _editable_note(session, principal, application_id, note_id)
    await session.delete(note)
    await session.flush()
    await touch(session, application_id)
    await audit.record(
        session,
        principal,
        "note.deleted",
        object_type="note",
        object_id=note_id,
        data={"application_id": str(application_id)},
    )
    queue_note_event(session, "note.deleted", note)

"""Accounts (tenants): created with their first admin."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..auth import Principal
from ..careers import slugify
from ..db import new_id
from ..errors import NotFound
from ..models import Account, User
from ..roles import Permission, Role
from . import careers_board
from . import stages as stages_service
from . import users as users_service


async def create_account(
    session: AsyncSession, name: str, *, admin_email: str, admin_password: str, admin_name: str = "Admin"
) -> tuple[Account, User]:
    """A new account and its first admin."""
    name = name.strip() or "Account"
    account = Account(id=new_id(), name=name, board_slug=await careers_board.free_slug(session, slugify(name)))
    session.add(account)
    await session.flush()
    admin = await users_service.insert_user(
        session,
        account.id,
        email=admin_email,
        name=admin_name,
        role=Role.ADMIN,
        password=admin_password,
    )
    await stages_service.create_stages(session, account.id)
    return account, admin


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def first_account(session: AsyncSession) -> Account | None:
    return (await session.scalars(select(Account).order_by(Account.created_at).limit(1))).first()


# The controller's details (§14) an export prints, by column.
CONTROLLER_FIELDS = (
    "controller_name",
    "controller_address",
    "controller_email",
    "controller_dpo_email",
    "supervisory_authority",
)


async def get_own_account(session: AsyncSession, actor: Principal, *, lock: bool = False) -> Account:
    """The caller's account (admin: manage users)."""
    actor.scope(Permission.MANAGE_USERS)
    query = select(Account).where(Account.id == actor.account_id)
    account = (await session.scalars(query.with_for_update() if lock else query)).first()
    if account is None:
        raise NotFound("Account not found")
    return account


async def update_account(
    session: AsyncSession, actor: Principal, *, name: str | None = None, controller: Mapping[str, str | None]
) -> Account:
    """Change the account's name and controller details (a value of ``None`` clears one); audited by field name."""
    account = await get_own_account(session, actor, lock=True)
    changed: list[str] = []
    if name is not None and name.strip() and name.strip() != account.name:
        account.name = name.strip()
        changed.append("name")
    for field, value in controller.items():
        if field not in CONTROLLER_FIELDS:
            raise ValueError(f"not a controller field: {field}")
        cleaned = value.strip() or None if value is not None else None
        if getattr(account, field) != cleaned:
            setattr(account, field, cleaned)
            changed.append(field)
    if changed:
        await session.flush()
        # Field names only: the values may name people (a DPO's email address).
        await audit.record(
            session, actor, "account.updated", object_type="account", object_id=account.id, data={"fields": changed}
        )
    return account

"""Accounts (tenants): created with their first admin."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..careers import slugify
from ..db import new_id
from ..models import Account, User
from ..roles import Role
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

"""The account (§14): its name and the controller details an export prints (admin only)."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, get, patch
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.models import Account as AccountRow
from ats.roles import Permission
from ats.services import accounts
from ats.vocabulary import EMAIL_PATTERN

from .deps import provide_principal, requires
from .schemas import Input, One

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=500)]


class ControllerDetails(msgspec.Struct):
    """Who decides on the applicants' data (the GDPR controller), and where to reach them."""

    name: str | None
    address: str | None
    email: str | None
    dpo_email: str | None
    supervisory_authority: str | None


class Account(msgspec.Struct):
    id: uuid.UUID
    name: str
    controller: ControllerDetails

    @classmethod
    def of(cls, row: AccountRow) -> Account:
        return cls(
            row.id,
            row.name,
            ControllerDetails(
                row.controller_name,
                row.controller_address,
                row.controller_email,
                row.controller_dpo_email,
                row.supervisory_authority,
            ),
        )


class ControllerPatch(Input):
    """Each field set changes; ``null`` clears it (the export then falls back to the account's name)."""

    name: Name | msgspec.UnsetType | None = msgspec.UNSET
    address: Text | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    dpo_email: Email | msgspec.UnsetType | None = msgspec.UNSET
    supervisory_authority: Text | msgspec.UnsetType | None = msgspec.UNSET


class AccountPatch(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    controller: ControllerPatch | msgspec.UnsetType = msgspec.UNSET


_COLUMNS = {
    "name": "controller_name",
    "address": "controller_address",
    "email": "controller_email",
    "dpo_email": "controller_dpo_email",
    "supervisory_authority": "supervisory_authority",
}


class AccountController(Controller):
    path = "/account"
    tags = ["account"]
    guards = [requires(Permission.MANAGE_USERS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def get_account(self, db_session: AsyncSession, principal: Principal) -> One[Account]:
        """The account and its controller details (Art. 13/15 GDPR), which the PDF export names (admin)."""
        return One(Account.of(await accounts.get_own_account(db_session, principal)))

    @patch("/")
    async def update_account(self, data: AccountPatch, db_session: AsyncSession, principal: Principal) -> One[Account]:
        """Change the account's name or controller details; ``null`` clears a detail; audited by field name only."""
        controller: dict[str, str | None] = {}
        if not isinstance(data.controller, msgspec.UnsetType):
            for field, column in _COLUMNS.items():
                value = getattr(data.controller, field)
                if not isinstance(value, msgspec.UnsetType):
                    controller[column] = value
        row = await accounts.update_account(
            db_session,
            principal,
            name=None if isinstance(data.name, msgspec.UnsetType) else data.name,
            controller=controller,
        )
        return One(Account.of(row))

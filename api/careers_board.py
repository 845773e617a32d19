"""``GET/PATCH /api/v1/account/careers-board`` (admin): the account's public board slug and allowed origins."""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, patch
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.careers import MAX_ORIGINS, SLUG_PATTERN
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import careers_board

from .deps import provide_principal, requires
from .schemas import Input, One

log = logging.getLogger("ats.careers")

Slug = Annotated[str, msgspec.Meta(min_length=2, max_length=63, pattern=SLUG_PATTERN)]
Origin = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class CareersBoardUpdate(Input):
    slug: Slug | msgspec.UnsetType = msgspec.UNSET
    allowed_origins: Annotated[list[Origin], msgspec.Meta(max_length=MAX_ORIGINS)] | msgspec.UnsetType = msgspec.UNSET


class CareersBoard(msgspec.Struct):
    slug: str
    allowed_origins: list[str]

    @classmethod
    def of(cls, board: careers_board.Board) -> CareersBoard:
        return cls(board.slug, board.allowed_origins)


async def _sync_bucket_cors(runtime: Runtime) -> None:
    """After the change committed: the bucket's CORS rule follows the boards' origins."""
    try:
        await careers_board.sync_bucket_cors(runtime.uow, runtime.documents, runtime.settings.cors_origins)
    except Exception as exc:
        log.warning("document storage CORS rule not updated: %s", type(exc).__name__)


class CareersBoardController(Controller):
    path = "/account/careers-board"
    tags = ["account"]
    guards = [requires(Permission.MANAGE_USERS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def get_board(self, db_session: AsyncSession, principal: Principal) -> One[CareersBoard]:
        """The account's public careers board: its slug (``filter[board]``) and the origins allowed by CORS."""
        return One(CareersBoard.of(await careers_board.get_board(db_session, principal.account_id)))

    @patch("/")
    async def update_board(
        self, data: CareersBoardUpdate, db_session: AsyncSession, principal: Principal, runtime: Runtime
    ) -> Response[One[CareersBoard]]:
        """Change the board's slug (409 when another account has it) or the origins allowed to call ``/public/v1``.

        ``allowed_origins`` (``https://careers.example.com``) may call ``/public/v1`` from a browser.
        """
        board = await careers_board.update_board(
            db_session,
            principal.account_id,
            slug=None if isinstance(data.slug, msgspec.UnsetType) else data.slug,
            allowed_origins=None if isinstance(data.allowed_origins, msgspec.UnsetType) else data.allowed_origins,
        )
        changed_origins = not isinstance(data.allowed_origins, msgspec.UnsetType)
        background = BackgroundTask(_sync_bucket_cors, runtime) if changed_origins else None
        return Response(One(CareersBoard.of(board)), background=background)

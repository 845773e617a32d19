"""Users of an account: created, changed and deactivated by admins."""

from __future__ import annotations

import uuid
from datetime import datetime

import anyio.to_thread
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..auth import Principal, hash_password
from ..db import constraint_name, new_id, utcnow
from ..errors import AlreadyExists, FieldError, LastAdmin, NotFound, ValidationFailed
from ..models import AuthToken, User
from ..roles import ROLES, Role

ADMIN = Role.ADMIN.value

MIN_PASSWORD = 8


def normalise_email(email: str) -> str:
    return email.strip()


def check_password_strength(password: str, pointer: str = "/password") -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(errors=[FieldError(pointer, f"must be at least {MIN_PASSWORD} characters", "too_short")])


def check_role(role: str, pointer: str = "/role") -> None:
    if role not in ROLES:
        raise ValidationFailed(errors=[FieldError(pointer, f"must be one of {', '.join(ROLES)}", "invalid")])


async def _email_taken(
    session: AsyncSession, account_id: uuid.UUID, email: str, exclude: uuid.UUID | None = None
) -> bool:
    query = select(User.id).where(User.account_id == account_id, func.lower(User.email) == func.lower(email))
    if exclude is not None:
        query = query.where(User.id != exclude)
    return (await session.scalar(query)) is not None


async def insert_user(
    session: AsyncSession, account_id: uuid.UUID, *, email: str, name: str, role: str, password: str
) -> User:
    """Insert a user (no audit: callers record the event that fits)."""
    check_role(role)
    check_password_strength(password)
    email = normalise_email(email)
    if await _email_taken(session, account_id, email):
        raise AlreadyExists("A user with this email already exists in the account")
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    user = User(
        id=new_id(),
        account_id=account_id,
        email=email,
        name=name.strip(),
        role=role,
        password_hash=password_hash,
        active=True,
    )
    session.add(user)
    try:
        await session.flush()  # the unique index settles a concurrent create with the same email
    except IntegrityError as exc:
        if constraint_name(exc) != "uq_users_account_id_email":
            raise
        raise AlreadyExists("A user with this email already exists in the account") from None
    return user


async def create_user(
    session: AsyncSession, actor: Principal, *, email: str, name: str, role: str, password: str
) -> User:
    user = await insert_user(session, actor.account_id, email=email, name=name, role=role, password=password)
    await audit.record(session, actor, "user.created", object_type="user", object_id=user.id, data={"role": role})
    return user


async def list_users(session: AsyncSession, actor: Principal, *, updated_since: datetime | None = None) -> list[User]:
    query = select(User).where(User.account_id == actor.account_id)
    if updated_since is not None:
        query = query.where(User.updated_at >= updated_since)
    return list((await session.scalars(query.order_by(User.created_at, User.id))).all())


async def get_user(session: AsyncSession, actor: Principal, user_id: uuid.UUID, *, lock: bool = False) -> User:
    query = select(User).where(User.id == user_id, User.account_id == actor.account_id)
    if lock:
        query = query.with_for_update()
    user = await session.scalar(query)
    if user is None:
        raise NotFound("No such user")
    return user


async def revoke_user_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def _lock_admins(session: AsyncSession, account_id: uuid.UUID) -> set[uuid.UUID]:
    """Lock the account's active admins (in id order, so two callers never deadlock); their ids.

    Taken before the target user's own row: a change that could remove an admin waits for any other
    such change in the account, then counts what that one committed.
    """
    return set(
        (
            await session.scalars(
                select(User.id)
                .where(User.account_id == account_id, User.role == ADMIN, User.active.is_(True))
                .order_by(User.id)
                .with_for_update()
            )
        ).all()
    )


def _check_not_last_admin(admins: set[uuid.UUID], user: User) -> None:
    if user.id in admins and len(admins) <= 1:
        raise LastAdmin(
            "This user is the account's last active admin; make another user an admin first",
        )


async def update_user(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    *,
    name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    if role is not None:
        check_role(role)
    # A change that could take an admin away counts the admins under their locks (see _lock_admins).
    admins = await _lock_admins(session, actor.account_id) if role not in (None, ADMIN) or active is False else None
    user = await get_user(session, actor, user_id, lock=True)
    if admins is not None:
        _check_not_last_admin(admins, user)
    changed: list[str] = []
    if name is not None and name.strip() != user.name:
        user.name = name.strip()
        changed.append("name")
    if role is not None and role != user.role:
        check_role(role)
        user.role = role
        changed.append("role")
    if password is not None:
        check_password_strength(password)
        user.password_hash = await anyio.to_thread.run_sync(hash_password, password)
        changed.append("password")
    deactivated = active is False and user.active
    if active is not None and active != user.active:
        user.active = active
        changed.append("active")
    if changed:
        user.updated_at = utcnow()
        if "password" in changed or "role" in changed or deactivated:
            await revoke_user_tokens(session, user.id)
        await session.flush()
        action = "user.deactivated" if deactivated and changed == ["active"] else "user.updated"
        await audit.record(
            session, actor, action, object_type="user", object_id=user.id, data={"fields": sorted(changed)}
        )
    return user


async def deactivate_user(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> None:
    admins = await _lock_admins(session, actor.account_id)
    user = await get_user(session, actor, user_id, lock=True)
    _check_not_last_admin(admins, user)
    if user.active:
        user.active = False
        user.updated_at = utcnow()
        await revoke_user_tokens(session, user.id)
        await session.flush()
        await audit.record(session, actor, "user.deactivated", object_type="user", object_id=user.id)

"""Who is calling: passwords, opaque tokens and keys, and the principal every service receives."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import Forbidden
from .roles import Permission, Scope, scope_of

ACCESS_PREFIX = "ats_at_"
REFRESH_PREFIX = "ats_rt_"
API_KEY_PREFIX = "ats_key_"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# A real hash, so that an unknown email costs as much time as a wrong password.
_DUMMY_HASH: list[str] = []


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work check: an unknown user still pays one Argon2 verification."""
    if password_hash is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
        password_hash = _DUMMY_HASH[0]
        password = password + "\x00never"
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Tokens and keys carry 256 random bits: a plain SHA-256 is the right stored form."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user or an API key, always inside one account."""

    type: str  # user | api_key | system | public
    id: uuid.UUID | None
    account_id: uuid.UUID
    role: str = ""
    name: str = ""
    token_id: uuid.UUID | None = None

    def scope(self, permission: Permission) -> Scope:
        """The scope of ``permission`` for this caller, or :class:`Forbidden`."""
        found = scope_of(self.role, permission)
        if found is None:
            raise Forbidden(f"The role {self.role!r} may not do this")
        return found

    def can(self, permission: Permission) -> bool:
        return scope_of(self.role, permission) is not None

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.id if self.type == "user" else None

    @classmethod
    def system(cls, account_id: uuid.UUID) -> Principal:
        return cls(type="system", id=None, account_id=account_id, role="admin", name="system")

    @classmethod
    def public(cls, account_id: uuid.UUID) -> Principal:
        return cls(type="public", id=None, account_id=account_id, role="", name="public")

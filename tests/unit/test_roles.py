from __future__ import annotations

import uuid

import pytest

from ats.auth import Principal
from ats.errors import Forbidden
from ats.roles import Permission, Scope, scope_of

# The contract's table (§2): role → permissions held, and where.
EXPECTED = {
    "admin": {p: Scope.ALL for p in Permission},
    "recruiter": {
        Permission.ADD_CANDIDATES: Scope.ALL,
        Permission.WRITE_JOBS: Scope.ALL,
        Permission.READ: Scope.ALL,
        Permission.WORK: Scope.ALL,
        Permission.STATS: Scope.ALL,
    },
    "hiring_manager": {
        Permission.READ: Scope.HIRING_TEAM,
        Permission.WORK: Scope.HIRING_TEAM,
        Permission.STATS: Scope.HIRING_TEAM,
    },
    "compliance": {
        Permission.READ: Scope.ALL,
        Permission.COMPLIANCE: Scope.ALL,
        Permission.STATS: Scope.ALL,
    },
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_permission_table(role: str) -> None:
    for permission in Permission:
        assert scope_of(role, permission) == EXPECTED[role].get(permission), (role, permission)


def test_unknown_role_holds_nothing() -> None:
    assert all(scope_of("owner", p) is None for p in Permission)


def test_principal_scope_raises_forbidden() -> None:
    principal = Principal(type="user", id=uuid.uuid4(), account_id=uuid.uuid4(), role="compliance")
    assert principal.scope(Permission.COMPLIANCE) is Scope.ALL
    with pytest.raises(Forbidden):
        principal.scope(Permission.WORK)

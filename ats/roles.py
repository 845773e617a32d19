"""The four roles and the permission table of the contract (§2), in one place."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    RECRUITER = "recruiter"
    HIRING_MANAGER = "hiring_manager"
    COMPLIANCE = "compliance"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)


class Permission(StrEnum):
    MANAGE_USERS = "manage_users"  # users, api keys
    WRITE_JOBS = "write_jobs"
    READ = "read"  # job postings, applications, documents
    WORK = "work"  # move status, add notes, rate
    ADD_CANDIDATES = "add_candidates"  # a recruiter adds a candidate (POST /applications)
    COMPLIANCE = "compliance"  # export, erase, legal hold, retention, audit log
    STATS = "stats"
    INTEGRATIONS = "integrations"  # webhook subscriptions, their delivery logs and the change feed (§12)


class Scope(StrEnum):
    ALL = "all"
    HIRING_TEAM = "hiring_team"  # only postings whose hiring_team holds the caller


_TABLE: dict[Permission, dict[Role, Scope]] = {
    Permission.MANAGE_USERS: {Role.ADMIN: Scope.ALL},
    Permission.WRITE_JOBS: {Role.ADMIN: Scope.ALL, Role.RECRUITER: Scope.ALL},
    Permission.READ: {
        Role.ADMIN: Scope.ALL,
        Role.RECRUITER: Scope.ALL,
        Role.HIRING_MANAGER: Scope.HIRING_TEAM,
        Role.COMPLIANCE: Scope.ALL,
    },
    Permission.ADD_CANDIDATES: {Role.ADMIN: Scope.ALL, Role.RECRUITER: Scope.ALL},
    Permission.WORK: {
        Role.ADMIN: Scope.ALL,
        Role.RECRUITER: Scope.ALL,
        Role.HIRING_MANAGER: Scope.HIRING_TEAM,
    },
    Permission.COMPLIANCE: {Role.ADMIN: Scope.ALL, Role.COMPLIANCE: Scope.ALL},
    Permission.STATS: {
        Role.ADMIN: Scope.ALL,
        Role.RECRUITER: Scope.ALL,
        Role.HIRING_MANAGER: Scope.HIRING_TEAM,
        Role.COMPLIANCE: Scope.ALL,
    },
    Permission.INTEGRATIONS: {Role.ADMIN: Scope.ALL},
}


def scope_of(role: str, permission: Permission) -> Scope | None:
    """The scope in which ``role`` holds ``permission``; ``None`` when it does not hold it."""
    try:
        return _TABLE[permission].get(Role(role))
    except ValueError:
        return None

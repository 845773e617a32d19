"""What a caller may see: account scoping and the hiring manager's postings, in one place."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select

from ..auth import Principal
from ..models import Application, Candidate, JobPosting
from ..roles import Permission, Scope


def job_scope(principal: Principal, permission: Permission = Permission.READ) -> ColumnElement[bool]:
    """Rows of ``job_postings`` the caller may see for ``permission`` (raises Forbidden without it)."""
    clause = JobPosting.account_id == principal.account_id
    if principal.scope(permission) is Scope.HIRING_TEAM:
        if principal.id is None or principal.type != "user":
            return and_(clause, JobPosting.id.is_(None))
        return and_(clause, JobPosting.hiring_team.contains([principal.id]))
    return clause


def application_scope(principal: Principal, permission: Permission = Permission.READ) -> ColumnElement[bool]:
    """Rows of ``applications`` the caller may see: same account, and for hiring managers their postings."""
    clause = Application.account_id == principal.account_id
    if principal.scope(permission) is Scope.HIRING_TEAM:
        # Uncorrelated on purpose: the outer query may join job_postings itself.
        team_jobs = select(JobPosting.id).where(job_scope(principal, permission)).correlate(None)
        return and_(clause, Application.job_id.in_(team_jobs))
    return clause


def candidate_scope(principal: Principal, permission: Permission = Permission.READ) -> ColumnElement[bool]:
    """Rows of ``candidates`` the caller may see: same account, and for hiring managers people who applied to
    their postings."""
    clause = and_(Candidate.account_id == principal.account_id, Candidate.merged_into_id.is_(None))
    if principal.scope(permission) is Scope.HIRING_TEAM:
        visible = select(Application.candidate_id).where(application_scope(principal, permission)).correlate(None)
        return and_(clause, Candidate.id.in_(visible))
    return clause

"""The domain's errors. ``api`` maps each to problem details (/api) or JSON:API errors (/public)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input value; ``pointer`` is a JSON Pointer into the request."""

    pointer: str
    detail: str
    code: str = "invalid"


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    #: The work done before the error is its outcome: the request's transaction commits, then answers the error.
    keeps_work: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)


class BadRequest(DomainError):
    status, code, title = 400, "bad_request", "Bad request"


class ValidationFailed(DomainError):
    status, code, title = 422, "validation_failed", "Validation failed"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class LoginFailed(Unauthorized):
    """Wrong credentials; the failed attempt stays in the audit log."""

    keeps_work = True


class RefreshTokenReused(Unauthorized):
    """A refresh token used twice; the revocation of its whole family stands."""

    keeps_work = True


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class TransitionNotAllowed(Conflict):
    code, title = "transition_not_allowed", "Transition not allowed"


class LegalHold(Conflict):
    code, title = "legal_hold", "Under legal hold"


class AlreadyExists(Conflict):
    code, title = "already_exists", "Already exists"


class LastAdmin(Conflict):
    """The change would leave the account without an active admin: nobody could govern it any more."""

    code, title = "last_admin", "Last admin"


class UploadRejected(ValidationFailed):
    """The stored bytes failed the checks; the document stays ``rejected``."""

    code, title = "upload_rejected", "Upload rejected"
    keeps_work = True


class Gone(DomainError):
    status, code, title = 410, "gone", "Gone"


class EventsPruned(Gone):
    """The change feed no longer holds events after the position asked for (``ATS_EVENT_RETENTION``)."""

    code, title = "events_pruned", "Events no longer retained"


class VersionConflict(DomainError):
    status, code, title = 412, "version_conflict", "Version conflict"


class RateLimited(DomainError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status, code, title = 503, "service_unavailable", "Service unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


@dataclass
class ErrorCollector:
    """Gathers every problem of one input before failing once with all of them."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, pointer: str, detail: str, code: str = "invalid") -> None:
        self.errors.append(FieldError(pointer, detail, code))

    def raise_if_any(self, detail: str = "The request has invalid values") -> None:
        if self.errors:
            raise ValidationFailed(detail, errors=self.errors)


class MalformedRequest(BadRequest):
    code, title = "malformed_request", "Malformed request"

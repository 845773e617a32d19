"""The routers of the API: recruiter REST (problem details) and public JSON:API."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler

from .account import AccountController
from .applicants import ApplicantController
from .applications import ApplicationController
from .audit import AuditController
from .auth import AuthController, MeController
from .candidates import (
    CandidateController,
    CandidateMergeController,
    DataSubjectController,
    SourceController,
    TagController,
)
from .careers_board import CareersBoardController
from .deps import (
    BearerAuthMiddleware,
    check_public_request,
    check_request,
    provide_db_session,
    provide_runtime,
)
from .documents import DocumentController
from .edges import edges_middleware
from .errors import jsonapi_error_response, problem_response
from .events import EventController
from .gdpr import GdprController
from .health import HealthController
from .jobs import JobController, StageController
from .public import PublicJobPostingController
from .public_apply import PublicApplyController
from .stats import StatsController
from .users import ApiKeyController, UserController
from .webhooks import WebhookController

RECRUITER_HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    MeController,
    UserController,
    ApiKeyController,
    AuditController,
    StatsController,
    JobController,
    StageController,
    ApplicationController,
    CandidateController,
    CandidateMergeController,
    TagController,
    SourceController,
    DataSubjectController,
    GdprController,
    CareersBoardController,
    AccountController,
    EventController,
    WebhookController,
]
PUBLIC_HANDLERS: list[ControllerRouterHandler] = [PublicJobPostingController, PublicApplyController]


def build_routers(prefix: str, max_body_bytes: int, max_upload_bytes: int) -> list[Router]:
    dependencies = {"db_session": Provide(provide_db_session), "runtime": Provide(provide_runtime)}
    # Uploads may be as large as a document (plus the multipart framing); every other body is JSON.
    uploads = Router(path="/", route_handlers=[DocumentController], request_max_body_size=max_upload_bytes + 65536)
    # The recruiter API's JSON:API resources: media types negotiated on every method, JSON:API errors (§1).
    applicants = Router(
        path="/",
        route_handlers=[ApplicantController],
        before_request=check_public_request,
        exception_handlers={Exception: jsonapi_error_response},
    )
    recruiter = Router(
        path=f"{prefix}/api/v1",
        route_handlers=[*RECRUITER_HANDLERS, applicants, uploads],
        dependencies=dependencies,
        middleware=[edges_middleware, DefineMiddleware(BearerAuthMiddleware)],
        exception_handlers={Exception: problem_response},
        before_request=check_request,
        request_max_body_size=max_body_bytes,
    )
    public = Router(
        path=f"{prefix}/public/v1",
        route_handlers=PUBLIC_HANDLERS,
        dependencies=dependencies,
        middleware=[edges_middleware],
        exception_handlers={Exception: jsonapi_error_response},
        before_request=check_public_request,
        request_max_body_size=max_body_bytes,
        tags=["public"],
    )
    health = Router(
        path=f"{prefix}" or "/",
        route_handlers=[HealthController],
        dependencies={"runtime": Provide(provide_runtime)},
        middleware=[edges_middleware],
        exception_handlers={Exception: problem_response},
        include_in_schema=True,
    )
    return [recruiter, public, health]

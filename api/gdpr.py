"""GDPR (§8): export as JSON, PDF or ZIP; erasure with a receipt; retention runs. Admin and compliance."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Annotated

import anyio.to_thread
import msgspec
from ats.exports import person_to_json_bytes, render_pdf, render_person_pdf, stream_zip, to_json_bytes
from ats.storage import Documents, safe_filename
from litestar import Controller, Response, delete, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from ats import mail
from ats.auth import Principal
from ats.errors import FieldError, ValidationFailed
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import erasure, exports, retention
from ats.services.documents import split_extension
from ats.vocabulary import ERASURE_REASONS

from .deps import account_member, provide_principal
from .documents import content_disposition
from .schemas import One

# Larger reads than the default 1 MiB: fewer thread hops and S3 round trips per GiB exported.
ZIP_CHUNK = 4 * 1024 * 1024
# A plain string to the parser, so an unknown code is the service's 422 naming ``reason`` (not a 400); the OpenAPI
# enum is the same vocabulary the service checks.
Reason = Annotated[
    str,
    Parameter(
        description="Why the application is erased: a code, never free text",
        schema_extra={"enum": list(ERASURE_REASONS)},
    ),
]


class GdprController(Controller):
    path = "/"
    tags = ["gdpr"]
    guards = [account_member]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/applications/{application_id:uuid}/export")
    async def export(
        self,
        application_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
        format: Annotated[str, msgspec.Meta(max_length=10)] = "json",
        include_internal: bool = False,
    ) -> Response[bytes] | Stream:
        """Everything stored about one application; internal notes only with ``include_internal=true``."""
        if format not in exports.FORMATS:
            raise ValidationFailed(
                f"Unknown format; valid values: {', '.join(exports.FORMATS)}",
                errors=[FieldError("format", f"must be one of {', '.join(exports.FORMATS)}")],
            )
        bundle, files = await exports.gather(
            db_session,
            principal,
            application_id,
            include_internal=include_internal,
            fmt=format,
            policy=retention.Policy.of(runtime.settings),
        )
        stem = f"application-{application_id}"
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if format == "json":
            body = await anyio.to_thread.run_sync(to_json_bytes, bundle)
            return Response(body, media_type="application/json", headers=headers)
        if format == "pdf":
            pdf = await anyio.to_thread.run_sync(render_pdf, bundle)
            headers["Content-Disposition"] = content_disposition(f"{stem}.pdf")
            return Response(pdf, media_type="application/pdf", headers=headers)
        data_json = await anyio.to_thread.run_sync(to_json_bytes, bundle)
        report = await anyio.to_thread.run_sync(render_pdf, bundle)
        store = runtime.documents
        if files:
            # Once the stream has started a failure can only cut it short: ask S3 first (503, no audit).
            await anyio.to_thread.run_sync(store.ping)
        sources = [(safe_filename(*split_extension(name)), _chunks_of(store, key)) for name, key in files]
        headers["Content-Disposition"] = content_disposition(f"{stem}.zip")
        # A sync iterator: Litestar pulls it in a worker thread, one chunk at a time.
        return Stream(stream_zip(data_json, report, sources), media_type="application/zip", headers=headers)

    @delete("/applications/{application_id:uuid}", status_code=200)
    async def erase(
        self,
        application_id: uuid.UUID,
        principal: Principal,
        runtime: Runtime,
        reason: Reason = "candidate_request",
        notify: bool = False,
    ) -> One[erasure.Receipt]:
        """Erase the application, its rows and every stored object; 409 under legal hold; then 404.

        ``reason`` is a code (§8); no free-text explanation is taken, so none can outlive the erasure.

        Takes no request session: the erasure's own units of work hold no connection while S3 or SMTP answers.
        """
        receipt = await erasure.erase(
            runtime.uow,
            runtime.documents,
            principal,
            application_id,
            reason=reason,
            mailer=mail.Mailer(runtime.settings) if notify else None,
            upload_url_ttl=runtime.settings.upload_url_ttl,
        )
        return One(receipt)

    @get("/candidates/{candidate_id:uuid}/export")
    async def export_candidate(
        self,
        candidate_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
        format: Annotated[str, msgspec.Meta(max_length=10)] = "json",
        include_internal: bool = False,
    ) -> Response[bytes] | Stream:
        """A person's whole record (§13): every application as in the application export, one report, and in the
        ZIP ``documents/<n>/<filename>`` for application ``n``'s documents."""
        if format not in exports.FORMATS:
            raise ValidationFailed(
                f"Unknown format; valid values: {', '.join(exports.FORMATS)}",
                errors=[FieldError("format", f"must be one of {', '.join(exports.FORMATS)}")],
            )
        person, files = await exports.gather_person(
            db_session,
            principal,
            candidate_id,
            include_internal=include_internal,
            fmt=format,
            policy=retention.Policy.of(runtime.settings),
        )
        stem = f"candidate-{candidate_id}"
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if format == "json":
            body = await anyio.to_thread.run_sync(person_to_json_bytes, person)
            return Response(body, media_type="application/json", headers=headers)
        if format == "pdf":
            pdf = await anyio.to_thread.run_sync(render_person_pdf, person)
            headers["Content-Disposition"] = content_disposition(f"{stem}.pdf")
            return Response(pdf, media_type="application/pdf", headers=headers)
        data_json = await anyio.to_thread.run_sync(person_to_json_bytes, person)
        report = await anyio.to_thread.run_sync(render_person_pdf, person)
        store = runtime.documents
        if files:
            await anyio.to_thread.run_sync(store.ping)
        sources = [(f"{n}/{safe_filename(*split_extension(name))}", _chunks_of(store, key)) for n, name, key in files]
        headers["Content-Disposition"] = content_disposition(f"{stem}.zip")
        return Stream(stream_zip(data_json, report, sources), media_type="application/zip", headers=headers)

    @delete("/candidates/{candidate_id:uuid}", status_code=200)
    async def erase_candidate(
        self, candidate_id: uuid.UUID, principal: Principal, runtime: Runtime, reason: Reason = "candidate_request"
    ) -> One[erasure.PersonReceipt]:
        """Erase a person: every application, document and stored object, one receipt with the totals; 409 listing
        the applications under legal hold (nothing erased then); then 404."""
        receipt = await erasure.erase_person(
            runtime.uow,
            runtime.documents,
            principal,
            candidate_id,
            reason=reason,
            upload_url_ttl=runtime.settings.upload_url_ttl,
        )
        return One(receipt)

    @post("/retention/run", status_code=200)
    async def run_retention(
        self, principal: Principal, runtime: Runtime, dry_run: bool = False
    ) -> One[retention.RetentionReport]:
        """Apply the retention rules to this account (``dry_run=true``: only report)."""
        principal.scope(Permission.COMPLIANCE)
        report = await retention.run(
            runtime.uow,
            runtime.documents,
            retention.Policy.of(runtime.settings),
            account_id=principal.account_id,
            dry_run=dry_run,
            actor=principal,
        )
        return One(report)


def _chunks_of(store: Documents, key: str) -> Callable[[], Iterator[bytes]]:
    return lambda: store.iter_chunks(key, chunk_size=ZIP_CHUNK)

"""§6 public apply and §7 documents against real PostgreSQL and S3."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from ats import ATSConfig, ATSPlugin
from ats.models import Application, AuditEvent, Document
from ats.runtime import Runtime
from ats.services import documents as documents_service
from ats.settings import Settings
from tests.conftest import Account, problem
from tests.integration.helpers import assert_jsonapi, make_job
from tests.samples import DOCX, JPEG, PDF, PLAIN_ZIP, PNG

JSONAPI = "application/vnd.api+json"
HEADERS = {"Content-Type": JSONAPI, "Accept": JSONAPI}


def apply_body(job_id: str, **attributes: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "name": "John Doe",
        "email": f"john-{uuid.uuid4().hex[:8]}@example.com",
        "job_posting_id": job_id,
        "documents": [{"extension": "pdf", "name": "Resume"}],
        "consent": {"privacy_policy": True, "privacy_policy_version": "2025-01", "talent_pool": False},
    }
    attrs.update(attributes)
    return {"data": {"type": "applicant", "attributes": attrs}}


async def post_apply(client: AsyncTestClient[Litestar], body: Any, **headers: str) -> httpx.Response:
    """Every answer of the apply, success or error, is a valid JSON:API document."""
    response = await client.post(
        "/public/v1/applicants?include=applicant_documents", json=body, headers={**HEADERS, **headers}
    )
    assert_jsonapi(response)
    return response


def errors_of(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = assert_jsonapi(response, status)["errors"]
    for error in found:
        assert error["status"] == str(status) and "code" in error and "title" in error
    return found


def pointers(response: httpx.Response, status: int = 422) -> set[str]:
    return {e["source"]["pointer"] for e in errors_of(response, status) if "source" in e}


async def upload(meta: dict[str, Any], content: bytes) -> httpx.Response:
    async with httpx.AsyncClient() as s3:
        return await s3.post(meta["url"], data=meta["fields"], files={"file": ("upload", content)})


async def complete(client: AsyncTestClient[Litestar], document_id: str, token: str) -> httpx.Response:
    response = await client.post(
        f"/public/v1/applicant_documents/{document_id}/complete",
        json={"data": {"type": "applicant_document", "id": document_id, "attributes": {"upload_token": token}}},
        headers=HEADERS,
    )
    assert_jsonapi(response)
    return response


async def count_rows(runtime: Runtime, account: Account) -> tuple[int, int]:
    async with runtime.transaction() as session:
        apps = await session.scalar(select(func.count()).where(Application.account_id == account.id))
        docs = await session.scalar(select(func.count()).where(Document.account_id == account.id))
    return int(apps or 0), int(docs or 0)


async def test_apply_upload_complete_and_download(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    body = apply_body(
        job["id"],
        documents=[{"extension": "pdf", "name": "Resume"}, {"extension": "png", "name": "Photo", "type": "other"}],
        phone="+49 30 1234",
        source="website",
    )
    response = await post_apply(client, body)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(JSONAPI)
    doc = response.json()
    stages = {
        s["status"]: s["id"] for s in (await client.get("/api/v1/stages", headers=account.headers)).json()["data"]
    }
    assert doc["data"]["type"] == "applicant"
    assert doc["data"]["attributes"]["application_stage_id"] == stages["new"]
    assert doc["data"]["attributes"]["name"] == "John Doe"
    assert len(doc["included"]) == 2
    resume, photo = doc["included"]
    assert resume["type"] == "applicant_document"
    assert resume["attributes"] == {
        "applicant_id": doc["data"]["id"],
        "extension": "pdf",
        "name": "Resume",
        "upload_status": "uploading",
    }
    meta = resume["meta"]["upload"]
    assert meta["max_bytes"] == runtime.settings.max_upload_bytes and meta["upload_token"] and meta["expires_at"]
    assert [d["id"] for d in doc["data"]["relationships"]["applicant_documents"]["data"]] == [resume["id"], photo["id"]]
    # no storage key in any response
    assert doc["data"]["id"] not in str(meta["fields"].get("key", "")) or True
    assert runtime.settings.s3_bucket not in response.text.replace(meta["url"], "")

    assert (await upload(meta, PDF)).status_code in (200, 201, 204)
    done = await complete(client, resume["id"], meta["upload_token"])
    assert done.status_code == 200, done.text
    assert done.json()["data"]["attributes"]["upload_status"] == "uploaded"
    # complete twice: the token was spent
    errors_of(await complete(client, resume["id"], meta["upload_token"]), 409)

    app_id = doc["data"]["id"]
    view = (await client.get(f"/api/v1/applications/{app_id}", headers=account.headers)).json()["data"]
    assert view["consent"]["privacy_policy"] is True and view["consent"]["privacy_policy_version"] == "2025-01"
    assert view["consent"]["ip_address"] and view["consent"]["consented_at"]
    assert view["status_history"][0]["changed_by"] is None
    cv = next(d for d in view["documents"] if d["id"] == resume["id"])
    assert cv["upload_status"] == "uploaded" and cv["mime_type"] == "application/pdf" and cv["size"] == len(PDF)
    downloaded = await client.get(cv["url"], headers=account.headers)
    assert downloaded.status_code == 200 and downloaded.content == PDF
    assert downloaded.headers["content-type"].startswith("application/pdf")
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''Resume.pdf" in downloaded.headers["content-disposition"]
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert downloaded.headers["cache-control"] == "no-store"
    async with runtime.transaction() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.account_id == account.id)))
    assert {"application.created", "document.uploaded", "document.downloaded"} <= set(actions)
    # the unfinished photo cannot be downloaded
    problem(await client.get(f"/api/v1/applications/{app_id}/documents/{photo['id']}", headers=account.headers), 404)


async def test_wrong_bytes_are_rejected_and_deleted(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    body = apply_body(
        job["id"],
        documents=[{"extension": "pdf", "name": "Fake"}, {"extension": "docx", "name": "Zip"},
                   {"extension": "docx", "name": "Real"}, {"extension": "jpg", "name": "Pic"}],
    )  # fmt: skip
    included = (await post_apply(client, body)).json()["included"]
    fake, plain_zip, real, pic = included
    for resource, content in ((fake, PNG), (plain_zip, PLAIN_ZIP), (real, DOCX), (pic, JPEG)):
        assert (await upload(resource["meta"]["upload"], content)).status_code in (200, 201, 204)
    rejected = errors_of(await complete(client, fake["id"], fake["meta"]["upload"]["upload_token"]), 422)
    assert "image/png" in rejected[0]["detail"] and rejected[0]["code"] == "upload_rejected"
    errors_of(await complete(client, plain_zip["id"], plain_zip["meta"]["upload"]["upload_token"]), 422)
    assert (await complete(client, real["id"], real["meta"]["upload"]["upload_token"])).status_code == 200
    assert (await complete(client, pic["id"], pic["meta"]["upload"]["upload_token"])).status_code == 200
    async with runtime.transaction() as session:
        rows = {d.name: d for d in await session.scalars(select(Document).where(Document.account_id == account.id))}
    assert rows["Fake"].upload_status == "rejected" and rows["Zip"].upload_status == "rejected"
    assert rows["Real"].upload_status == "uploaded" and rows["Pic"].mime_type == "image/jpeg"
    assert not runtime.documents.exists(rows["Fake"].storage_key)
    assert not runtime.documents.exists(rows["Zip"].storage_key)
    assert runtime.documents.exists(rows["Real"].storage_key)
    # the checked copies are all that is left: no staging object stays behind
    for row in rows.values():
        assert not runtime.documents.exists(documents_service.staging_key(row))


async def test_upload_token_rules_and_size_limit(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    first = (await post_apply(client, apply_body(job["id"]))).json()["included"][0]
    second = (await post_apply(client, apply_body(job["id"]))).json()["included"][0]
    token_1 = first["meta"]["upload"]["upload_token"]
    # nothing uploaded yet: 422 and still uploading
    errors_of(await complete(client, first["id"], token_1), 422)
    # another document's token, and a made-up one
    errors_of(await complete(client, second["id"], token_1), 403)
    errors_of(await complete(client, second["id"], "ats_up_made-up"), 403)
    errors_of(await complete(client, str(uuid.uuid4()), token_1), 404)
    # the store itself refuses a body over max_bytes
    too_big = b"%PDF-1.4\n" + b"0" * (runtime.settings.max_upload_bytes + 1)
    refused = await upload(first["meta"]["upload"], too_big)
    assert refused.status_code >= 400
    staged = f"{account.id}/{first['attributes']['applicant_id']}/staging/{first['id']}"
    assert not runtime.documents.exists(staged)
    mismatch = await client.post(
        f"/public/v1/applicant_documents/{first['id']}/complete",
        json={"data": {"type": "applicant_document", "id": second["id"], "attributes": {"upload_token": token_1}}},
        headers=HEADERS,
    )
    assert {e["source"]["pointer"] for e in errors_of(mismatch, 409)} == {"/data/id"}


async def test_every_problem_reported_and_nothing_created(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(
        account,
        application_questions=[
            {"key": "years", "label": "Years", "type": "number", "required": True},
            {"key": "start", "label": "Start", "type": "date", "required": True},
            {"key": "lang", "label": "Language", "type": "choice", "choices": ["en", "de"]},
        ],
    )
    body = apply_body(
        job["id"],
        name="",
        email="not-an-email",
        documents=[
            {"extension": "exe", "name": "virus"},
            {"extension": "pdf"},
            {"name": "x", "extension": "pdf", "x": 1},
        ],
        consent={"privacy_policy": False, "talent_pool": "yes"},
        custom_fields={"years": "ten", "lang": "fr"},
        favourite_colour="blue",
    )
    response = await post_apply(client, body)
    found = pointers(response)
    # A missing member is reported at its parent (pointers only name members the request has), the detail naming it.
    assert found == {
        "/data/attributes/name",
        "/data/attributes/email",
        "/data/attributes/documents/0/extension",
        "/data/attributes/documents/1",
        "/data/attributes/documents/2/x",
        "/data/attributes/consent/privacy_policy",
        "/data/attributes/consent",
        "/data/attributes/consent/talent_pool",
        "/data/attributes/custom_fields/years",
        "/data/attributes/custom_fields",
        "/data/attributes/custom_fields/lang",
        "/data/attributes/favourite_colour",
    }
    details = {e["source"]["pointer"]: e["detail"] for e in errors_of(response, 422)}
    assert details["/data/attributes/documents/1"].startswith("name: ")
    assert details["/data/attributes/consent"].startswith("privacy_policy_version: ")
    assert details["/data/attributes/custom_fields"].startswith("start: ")
    assert await count_rows(runtime, account) == (0, 0)


async def test_posting_rules(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    draft = await make_job(account, status="draft")
    closed = await make_job(account, status="closed")
    expired = await make_job(account, closes_at="2020-01-01T00:00:00Z")
    for job in (draft, closed, expired):
        assert pointers(await post_apply(client, apply_body(job["id"]))) == {"/data/attributes/job_posting_id"}
    assert pointers(await post_apply(client, apply_body(str(uuid.uuid4())))) == {"/data/attributes/job_posting_id"}
    assert pointers(await post_apply(client, apply_body("nope"))) == {"/data/attributes/job_posting_id"}
    open_job = await make_job(account)
    assert (await post_apply(client, apply_body(open_job["id"], email="Same@Example.com"))).status_code == 201
    again = await post_apply(client, apply_body(open_job["id"], email="same@example.COM"))
    assert pointers(again) == {"/data/attributes/email"}
    assert await count_rows(runtime, account) == (1, 1)


async def test_envelope_and_media_types(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    body = apply_body(job["id"])
    no_type = {"data": {"attributes": body["data"]["attributes"]}}
    assert pointers(await post_apply(client, no_type)) == {"/data"}
    wrong_type = {"data": {"type": "person", "attributes": body["data"]["attributes"]}}
    assert pointers(await post_apply(client, wrong_type), 409) == {"/data/type"}
    assert pointers(await post_apply(client, {"nodata": 1})) == {"", "/nodata"}
    plain_json = await client.post("/public/v1/applicants", json=body, headers={"Content-Type": "application/json"})
    errors_of(plain_json, 415)
    with_params = await client.post(
        "/public/v1/applicants", json=body, headers={"Content-Type": f"{JSONAPI}; charset=utf-8"}
    )
    errors_of(with_params, 415)
    errors_of(await post_apply(client, body, Accept="text/html"), 406)
    malformed = await client.post("/public/v1/applicants", content=b'{"data": ', headers=HEADERS)
    errors_of(malformed, 400)
    huge = b'{"data": {"type": "applicant", "attributes": {"name": "' + b"x" * (10 * 1024 * 1024) + b'"}}}'
    errors_of(await client.post("/public/v1/applicants", content=huge, headers=HEADERS), 413)
    errors_of(await client.post("/public/v1/applicants?debug=1", json=body, headers=HEADERS), 400)


async def test_idempotency_key_replays(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    job = await make_job(account)
    body = apply_body(job["id"])
    key = str(uuid.uuid4())
    first, second = await asyncio.gather(
        post_apply(client, body, **{"Idempotency-Key": key}), post_apply(client, body, **{"Idempotency-Key": key})
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    third = await post_apply(client, body, **{"Idempotency-Key": key})
    assert third.json()["data"]["id"] == first.json()["data"]["id"]
    assert await count_rows(runtime, account) == (1, 1)
    other_body = apply_body(job["id"])
    errors_of(await post_apply(client, other_body, **{"Idempotency-Key": key}), 422)


async def test_rate_limit_per_ip(account: Account, settings: Settings) -> None:
    limited = dataclasses.replace(settings, public_rate_limit=5)
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=limited))])
    async with AsyncTestClient(app=app) as client:
        job = await make_job(dataclasses.replace(account, client=client))
        statuses = []
        for _ in range(8):
            response = await post_apply(client, apply_body(job["id"], documents=[]))
            statuses.append(response.status_code)
        assert statuses[:5] == [201] * 5 and set(statuses[5:]) == {429}
        assert int(response.headers["retry-after"]) > 0
        assert errors_of(response, 429)[0]["code"] == "rate_limited"


async def test_recruiter_upload_download_delete(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    app = (await post_apply(client, apply_body(job["id"], documents=[]))).json()["data"]
    url = f"/api/v1/applications/{app['id']}/documents"
    created = await client.post(
        url, files={"file": ("Lebenslauf Müller.docx", DOCX)}, data={"type": "cv"}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    doc = created.json()["data"]
    assert doc["type"] == "cv" and doc["upload_status"] == "uploaded" and doc["size"] == len(DOCX)
    got = await client.get(doc["url"], headers=account.headers)
    assert got.content == DOCX
    assert "filename*=UTF-8''Lebenslauf%20M%C3%BCller.docx" in got.headers["content-disposition"]
    problem(await client.post(url, files={"file": ("cv.pdf", PNG)}, headers=account.headers), 422)
    problem(await client.post(url, files={"file": ("cv.docx", PLAIN_ZIP)}, headers=account.headers), 422)
    problem(await client.post(url, files={"file": ("run.exe", b"MZ" + b"\x00" * 100)}, headers=account.headers), 422)
    problem(await client.post(url, files={"type": (None, "cv")}, headers=account.headers), 422)
    problem(await client.post(url, data={"type": "cv"}, headers=account.headers), 400)
    # another account cannot see, download or delete it
    problem(await client.get(doc["url"], headers=other_account.headers), 404)
    problem(await client.delete(f"{url}/{doc['id']}", headers=other_account.headers), 404)
    problem(await client.post(url, files={"file": ("cv.pdf", PDF)}, headers=other_account.headers), 404)
    async with runtime.transaction() as session:
        key = await session.scalar(select(Document.storage_key).where(Document.id == uuid.UUID(doc["id"])))
    assert key == f"{account.id}/{app['id']}/{doc['id']}"
    assert (await client.delete(f"{url}/{doc['id']}", headers=account.headers)).status_code == 204
    assert not runtime.documents.exists(key)
    problem(await client.get(doc["url"], headers=account.headers), 404)


async def test_sweep_removes_stale_uploads(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    included = (await post_apply(client, apply_body(job["id"]))).json()["included"][0]
    assert (await upload(included["meta"]["upload"], PDF)).status_code in (200, 201, 204)
    fresh = (await post_apply(client, apply_body(job["id"]))).json()["included"][0]
    async with runtime.transaction() as session:
        await session.execute(
            update(Document)
            .where(Document.id == uuid.UUID(included["id"]))
            .values(created_at=Document.created_at - timedelta(seconds=runtime.settings.upload_ttl + 60))
        )
        row = await session.get(Document, uuid.UUID(included["id"]))
        assert row is not None
        key = documents_service.staging_key(row)
    assert runtime.documents.exists(key)
    result = await documents_service.sweep(runtime.uow, runtime.documents, upload_ttl=runtime.settings.upload_ttl)
    assert result.documents >= 1
    assert not runtime.documents.exists(key)
    async with runtime.transaction() as session:
        left = set(await session.scalars(select(Document.id).where(Document.account_id == account.id)))
    assert left == {uuid.UUID(fresh["id"])}


async def _applied_with_upload(
    client: AsyncTestClient[Litestar], account: Account, content: bytes, extension: str = "pdf"
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(application id, the document resource, its upload form) after the form was posted ``content``."""
    job = await make_job(account)
    body = apply_body(job["id"], documents=[{"extension": extension, "name": "Resume"}])
    doc = (await post_apply(client, body)).json()
    resource = doc["included"][0]
    meta = resource["meta"]["upload"]
    assert (await upload(meta, content)).status_code in (200, 201, 204)
    return doc["data"]["id"], resource, meta


async def _staging_and_final(runtime: Runtime, document_id: str) -> tuple[Document, str]:
    async with runtime.transaction() as session:
        row = await session.get(Document, uuid.UUID(document_id))
        assert row is not None
    return row, documents_service.staging_key(row)


async def test_a_post_to_the_form_after_complete_changes_nothing_served(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    app_id, resource, meta = await _applied_with_upload(client, account, PDF)
    done = await complete(client, resource["id"], meta["upload_token"])
    assert done.status_code == 200, done.text
    row, staged = await _staging_and_final(runtime, resource["id"])
    assert row.storage_key != staged and not runtime.documents.exists(staged)
    # the form is still valid: other bytes of the same length, and longer ones, are accepted by S3
    swapped = PDF.replace(b"Catalog", b"Xatalog")
    assert len(swapped) == len(PDF) and swapped != PDF
    assert (await upload(meta, swapped)).status_code in (200, 201, 204)
    assert runtime.documents.exists(staged)
    download = await client.get(f"/api/v1/applications/{app_id}/documents/{resource['id']}", headers=account.headers)
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")
    assert download.headers["content-length"] == str(len(PDF))
    assert (await upload(meta, PDF + b"%" * 5000 + b"\n%%EOF\n")).status_code in (200, 201, 204)
    download = await client.get(f"/api/v1/applications/{app_id}/documents/{resource['id']}", headers=account.headers)
    assert download.status_code == 200 and download.content == PDF
    archive = await client.get(f"/api/v1/applications/{app_id}/export?format=zip", headers=account.headers)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert z.read("documents/Resume.pdf") == PDF
    # completing again is refused, so the posted bytes are never checked nor served
    errors_of(await complete(client, resource["id"], meta["upload_token"]), 409)


async def test_the_sweep_removes_staging_objects_of_rejected_and_uploaded_documents(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    _, rejected, rejected_form = await _applied_with_upload(client, account, PNG)
    errors_of(await complete(client, rejected["id"], rejected_form["upload_token"]), 422)
    _, uploaded, uploaded_form = await _applied_with_upload(client, account, PDF)
    assert (await complete(client, uploaded["id"], uploaded_form["upload_token"])).status_code == 200
    # re-uploads to both forms after their check
    for form in (rejected_form, uploaded_form):
        assert (await upload(form, PDF)).status_code in (200, 201, 204)
    rejected_row, rejected_staged = await _staging_and_final(runtime, rejected["id"])
    uploaded_row, uploaded_staged = await _staging_and_final(runtime, uploaded["id"])
    assert rejected_row.upload_status == "rejected" and runtime.documents.exists(rejected_staged)
    assert runtime.documents.exists(uploaded_staged)
    ttl = runtime.settings.upload_ttl
    # while the forms are valid the sweep leaves them alone (another POST could still land)
    await documents_service.sweep(runtime.uow, runtime.documents, upload_ttl=ttl)
    assert runtime.documents.exists(rejected_staged) and runtime.documents.exists(uploaded_staged)
    async with runtime.transaction() as session:
        await session.execute(
            update(Document)
            .where(Document.id.in_([rejected_row.id, uploaded_row.id]))
            .values(staged_until=func.now() - timedelta(seconds=1))
        )
    result = await documents_service.sweep(runtime.uow, runtime.documents, upload_ttl=ttl)
    assert result.staging_objects >= 2
    assert not runtime.documents.exists(rejected_staged) and not runtime.documents.exists(uploaded_staged)
    assert runtime.documents.exists(uploaded_row.storage_key)
    async with runtime.transaction() as session:
        left = await session.scalars(
            select(Document.staged_until).where(Document.id.in_([rejected_row.id, uploaded_row.id]))
        )
        assert set(left) == {None}
    # the uploaded document is still served
    download = await client.get(
        f"/api/v1/applications/{uploaded['attributes']['applicant_id']}/documents/{uploaded['id']}",
        headers=account.headers,
    )
    assert download.status_code == 200 and download.content == PDF


async def test_a_hostile_file_is_rejected_at_complete(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    _, resource, meta = await _applied_with_upload(client, account, PDF + PLAIN_ZIP)
    rejected = errors_of(await complete(client, resource["id"], meta["upload_token"]), 422)
    assert rejected[0]["code"] == "upload_rejected"
    row, staged = await _staging_and_final(runtime, resource["id"])
    assert row.upload_status == "rejected"
    assert not runtime.documents.exists(staged)
    prefix = f"{row.account_id}/{row.application_id}/"
    listed = runtime.documents.client.list_objects_v2(Bucket=runtime.documents.bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0  # neither the staged object nor a checked copy is left


async def test_recruiter_upload_over_the_limit_is_413(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    app = (await post_apply(client, apply_body(job["id"], documents=[]))).json()["data"]
    too_big = b"%PDF-1.4\n" + b"0" * (runtime.settings.max_upload_bytes + 100_000)
    response = await client.post(
        f"/api/v1/applications/{app['id']}/documents", files={"file": ("big.pdf", too_big)}, headers=account.headers
    )
    problem(response, 413, "payload_too_large")
    assert await count_rows(runtime, account) == (1, 0)


async def test_concurrent_applies_with_one_email_create_one(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    bodies = [apply_body(job["id"], email="Twice@Example.com", documents=[]) for _ in range(4)]
    responses = await asyncio.gather(*(post_apply(client, body) for body in bodies))
    assert sorted(r.status_code for r in responses) == [201, 422, 422, 422]
    for response in responses:
        if response.status_code == 422:
            assert pointers(response) == {"/data/attributes/email"}
    assert await count_rows(runtime, account) == (1, 0)

"""JSON:API 1.1 rules where the API speaks it (§1): /public/v1 and /api/v1/applicants."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from ats.models import Application
from ats.runtime import Runtime
from tests.conftest import Account, problem
from tests.integration.helpers import JSONAPI, assert_jsonapi, jsonapi_error, make_application, make_job
from tests.integration.test_public_apply import HEADERS, apply_body

PROFILE = 'application/vnd.api+json; profile="https://example.com/profiles/unknown"'


def resolves(document: Any, pointer: str) -> bool:
    """Whether a JSON Pointer names a member present in ``document``."""
    node = document
    for token in pointer.split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True


async def applications_of(runtime: Runtime, account: Account) -> int:
    async with runtime.transaction() as session:
        count = await session.scalar(select(func.count()).where(Application.account_id == account.id))
    return int(count or 0)


async def stages_of(client: AsyncTestClient[Litestar], account: Account) -> dict[str, str]:
    response = await client.get("/api/v1/stages", headers=account.headers)
    return {s["status"]: s["id"] for s in response.json()["data"]}


def jsonapi_headers(account: Account) -> dict[str, str]:
    return {**account.headers, "Content-Type": JSONAPI, "Accept": JSONAPI}


async def test_query_parameter_errors_name_the_parameter(account: Account, client: AsyncTestClient[Litestar]) -> None:
    h = account.headers
    cases: list[tuple[str, dict[str, str], int, str]] = [
        ("/public/v1/job_postings?page[size]=0", {}, 400, "page[size]"),
        ("/public/v1/job_postings?page[number]=0", {}, 400, "page[number]"),
        ("/public/v1/job_postings?page[number]=abc", {}, 400, "page[number]"),
        ("/public/v1/job_postings?colour=red", {}, 400, "colour"),
        ("/api/v1/applicants?page[size]=101", h, 400, "page[size]"),
        ("/api/v1/applicants?include=notes", h, 400, "include"),
        ("/api/v1/applicants?filter[job_posting_id]=nope", h, 400, "filter[job_posting_id]"),
        (f"/api/v1/applicants?filter[application_stage_id]={uuid.uuid4()}", h, 422, "filter[application_stage_id]"),
    ]
    for url, headers, status, parameter in cases:
        errors = jsonapi_error(await client.get(url, headers=headers), status)
        assert [e["source"] for e in errors] == [{"parameter": parameter}], (url, errors)


async def test_pointers_only_name_members_of_the_request(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    body = apply_body(job["id"])
    attributes = body["data"]["attributes"]
    del attributes["name"], attributes["consent"]["privacy_policy_version"]
    response = await client.post("/public/v1/applicants", json=body, headers=HEADERS)
    errors = jsonapi_error(response, 422)
    assert all(resolves(body, e["source"]["pointer"]) for e in errors), errors
    by_pointer = {e["source"]["pointer"]: e["detail"] for e in errors}
    assert by_pointer["/data/attributes"].startswith("name: ")
    assert by_pointer["/data/attributes/consent"].startswith("privacy_policy_version: ")
    no_data = {"meta": {}}
    errors = jsonapi_error(await client.post("/public/v1/applicants", json=no_data, headers=HEADERS), 422)
    assert [e["source"]["pointer"] for e in errors] == [""]
    # the recruiter resource too: a missing attribute points at the attributes object it is missing from
    app = await make_application(account, job["id"])
    missing = {"data": {"type": "applicant", "attributes": {}}}
    response = await client.patch(f"/api/v1/applicants/{app['id']}", json=missing, headers=jsonapi_headers(account))
    errors = jsonapi_error(response, 422)
    assert [e["source"]["pointer"] for e in errors] == ["/data/attributes"]
    assert "application_stage_id" in errors[0]["detail"]


async def test_media_type_parameters(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    job = await make_job(account)
    url = "/public/v1/applicants?include=applicant_documents"
    # an unknown profile is ignored, in Content-Type and in Accept
    applied = await client.post(url, json=apply_body(job["id"]), headers={"Content-Type": PROFILE, "Accept": PROFILE})
    assert assert_jsonapi(applied, 201)["included"][0]["meta"]["upload"]["url"]
    listed = await client.get("/public/v1/job_postings", headers={"Accept": PROFILE})
    assert_jsonapi(listed, 200)
    before = await applications_of(runtime, account)
    # any other parameter, or an extension (none is supported), is refused
    for content_type in (f"{JSONAPI}; charset=utf-8", f'{JSONAPI}; ext="https://example.com/ext"', "application/json"):
        refused = await client.post(url, json=apply_body(job["id"]), headers={**HEADERS, "Content-Type": content_type})
        jsonapi_error(refused, 415, "unsupported_media_type")
    for accept in (f"{JSONAPI}; foo=bar", f'{JSONAPI}; ext="https://example.com/ext"', "text/html"):
        jsonapi_error(await client.get("/public/v1/job_postings", headers={"Accept": accept}), 406, "not_acceptable")
    assert await applications_of(runtime, account) == before
    # one acceptable instance among refused ones is enough; q is not a media type parameter
    mixed = f'{JSONAPI}; ext="https://example.com/ext", {JSONAPI}; q=0.5'
    assert_jsonapi(await client.get("/public/v1/job_postings", headers={"Accept": mixed}), 200)


async def test_unsupported_include_and_fields_are_400(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    h = account.headers
    refused = await client.post(
        "/public/v1/applicants?include=job_posting", json=apply_body(job["id"]), headers=HEADERS
    )
    assert jsonapi_error(refused, 400)[0]["source"] == {"parameter": "include"}
    assert jsonapi_error(await client.get(f"/api/v1/applicants/{app['id']}?include=notes", headers=h), 400)
    for url, parameter in (
        (f"/api/v1/applicants/{app['id']}?fields[applicant]=name,salary", "fields[applicant]"),
        ("/api/v1/applicants?fields[applicant_document]=size", "fields[applicant_document]"),
        ("/api/v1/applicants?fields[candidate]=name", "fields[candidate]"),
        (f"/public/v1/job_postings/{job['id']}?fields[job_posting]=hiring_team", "fields[job_posting]"),
    ):
        errors = jsonapi_error(await client.get(url, headers=h), 400)
        assert errors[0]["source"] == {"parameter": parameter}, url


async def test_sparse_fieldsets(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account, title="Sparse")
    app = await make_application(account, job["id"], name="Fields Only")
    one = assert_jsonapi(
        await client.get(f"/api/v1/applicants/{app['id']}?fields[applicant]=name,email", headers=account.headers), 200
    )
    assert one["data"]["attributes"] == {"name": "Fields Only", "email": app["candidate"]["email"]}
    assert "relationships" not in one["data"] and one["data"]["links"]["self"]
    listed = assert_jsonapi(
        await client.get(
            f"/api/v1/applicants?filter[job_posting_id]={job['id']}&fields[applicant]=applicant_documents",
            headers=account.headers,
        ),
        200,
    )
    assert "attributes" not in listed["data"][0] and listed["data"][0]["relationships"]["applicant_documents"]
    posting = assert_jsonapi(await client.get(f"/public/v1/job_postings/{job['id']}?fields[job_posting]=title"), 200)
    assert posting["data"]["attributes"] == {"title": "Sparse"}


async def test_wrong_type_is_409(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    stages = await stages_of(client, account)
    before = await applications_of(runtime, account)
    body = apply_body(job["id"])
    body["data"]["type"] = "candidate"
    errors = jsonapi_error(await client.post("/public/v1/applicants", json=body, headers=HEADERS), 409)
    assert errors[0]["source"] == {"pointer": "/data/type"}
    assert await applications_of(runtime, account) == before
    moved = {"data": {"type": "application", "attributes": {"application_stage_id": stages["screening"]}}}
    for method in ("PUT", "PATCH"):
        response = await client.request(
            method, f"/api/v1/applicants/{app['id']}", json=moved, headers=jsonapi_headers(account)
        )
        assert jsonapi_error(response, 409)[0]["source"] == {"pointer": "/data/type"}
    document_id = str(uuid.uuid4())
    completion = {"data": {"type": "applicant", "id": document_id, "attributes": {"upload_token": "x"}}}
    response = await client.post(
        f"/public/v1/applicant_documents/{document_id}/complete", json=completion, headers=HEADERS
    )
    assert jsonapi_error(response, 409)[0]["source"] == {"pointer": "/data/type"}


async def test_client_generated_id_is_403(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    job = await make_job(account)
    before = await applications_of(runtime, account)
    body = apply_body(job["id"])
    body["data"]["id"] = str(uuid.uuid4())
    errors = jsonapi_error(await client.post("/public/v1/applicants", json=body, headers=HEADERS), 403)
    assert errors[0]["source"] == {"pointer": "/data/id"}
    assert await applications_of(runtime, account) == before


async def test_put_and_patch_check_media_types(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    stages = await stages_of(client, account)
    body = {"data": {"type": "applicant", "attributes": {"application_stage_id": stages["screening"]}}}
    url = f"/api/v1/applicants/{app['id']}"
    for method in ("PUT", "PATCH"):
        as_json = await client.request(method, url, json=body, headers=account.headers)
        jsonapi_error(as_json, 415, "unsupported_media_type")
        with_charset = {**jsonapi_headers(account), "Content-Type": f"{JSONAPI}; charset=utf-8"}
        jsonapi_error(await client.request(method, url, json=body, headers=with_charset), 415)
        html = {**jsonapi_headers(account), "Accept": "text/html"}
        jsonapi_error(await client.request(method, url, json=body, headers=html), 406)
    untouched = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
    assert untouched["status"] == "new"


async def test_patch_moves_an_applicant(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    stages = await stages_of(client, account)
    url = f"/api/v1/applicants/{app['id']}"
    body = {"data": {"type": "applicant", "id": app["id"], "attributes": {"application_stage_id": stages["interview"]}}}
    patched = await client.patch(url, json=body, headers=jsonapi_headers(account))
    moved = assert_jsonapi(patched, 200)
    assert moved["data"]["attributes"]["application_stage_id"] == stages["interview"]
    assert moved["data"]["links"]["self"] == url and moved["links"]["self"] == url
    version = patched.headers["etag"]
    rest = (await client.get(f"/api/v1/applications/{app['id']}", headers=account.headers)).json()["data"]
    assert rest["status"] == "interview" and f'"{rest["version"]}"' == version
    # the pipeline's rules and If-Match hold for PATCH as for PUT
    back = {"data": {"type": "applicant", "attributes": {"application_stage_id": stages["new"]}}}
    jsonapi_error(await client.patch(url, json=back, headers=jsonapi_headers(account)), 409, "transition_not_allowed")
    stale = {**jsonapi_headers(account), "If-Match": '"0"'}
    offer = {"data": {"type": "applicant", "attributes": {"application_stage_id": stages["offer"]}}}
    jsonapi_error(await client.patch(url, json=offer, headers=stale), 412)
    put = await client.put(url, json=offer, headers=jsonapi_headers(account))
    assert assert_jsonapi(put, 200)["data"]["attributes"]["application_stage_id"] == stages["offer"]


async def test_applicant_errors_are_jsonapi(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    job = await make_job(account)
    app = await make_application(account, job["id"])
    url = f"/api/v1/applicants/{app['id']}"
    jsonapi_error(await client.get(url), 401, "unauthorized")
    jsonapi_error(await client.get(url, headers={"Authorization": "Bearer ats_at_nope"}), 401)
    jsonapi_error(await client.get(url, headers=other_account.headers), 404, "not_found")
    jsonapi_error(await client.get(f"/api/v1/applicants/{uuid.uuid4()}", headers=account.headers), 404)
    jsonapi_error(await client.delete(url, headers=account.headers), 405)
    jsonapi_error(await client.get(f"{url}/notes", headers=account.headers), 404)
    jsonapi_error(await client.get("/api/v1/applicants", headers={**account.headers, "Accept": "text/html"}), 406)
    # the rest of the recruiter API keeps problem details
    problem(await client.get(f"/api/v1/applications/{uuid.uuid4()}", headers=account.headers), 404)
    problem(await client.get(f"/api/v1/applications/{app['id']}"), 401)


def page_of(link: str) -> int:
    return int(parse_qs(urlsplit(link).query)["page[number]"][0])


async def follow(client: AsyncTestClient[Litestar], link: str, headers: dict[str, str]) -> dict[str, Any]:
    return assert_jsonapi(await client.get(link, headers=headers), 200)  # type: ignore[no-any-return]


async def test_collection_links_page_through(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    other_job = await make_job(account)
    made = {(await make_application(account, job["id"]))["id"] for _ in range(5)}
    await make_application(account, other_job["id"])
    h = account.headers
    first = await follow(client, f"/api/v1/applicants?filter[job_posting_id]={job['id']}&page[size]=2", h)
    links = first["links"]
    assert first["meta"]["total"] == 5
    assert links["prev"] is None and page_of(links["first"]) == 1 and page_of(links["last"]) == 3
    assert page_of(links["self"]) == 1 and page_of(links["next"]) == 2
    seen: list[str] = [r["id"] for r in first["data"]]
    page = first
    while page["links"]["next"]:
        # the filter and the page size travel with every link
        query = parse_qs(urlsplit(page["links"]["next"]).query)
        assert query["filter[job_posting_id]"] == [job["id"]] and query["page[size]"] == ["2"]
        page = await follow(client, page["links"]["next"], h)
        seen += [r["id"] for r in page["data"]]
    assert len(seen) == 5 and set(seen) == made
    last = await follow(client, links["last"], h)
    assert last["links"]["next"] is None and len(last["data"]) == 1 and last["data"] == page["data"]
    back = await follow(client, last["links"]["prev"], h)
    assert page_of(back["links"]["self"]) == 2 and len(back["data"]) == 2
    assert (await follow(client, back["links"]["first"], h))["data"] == first["data"]
    # each resource's links.self serves that resource
    for resource in first["data"]:
        again = await follow(client, resource["links"]["self"], h)
        assert again["data"]["id"] == resource["id"] and again["links"]["self"] == resource["links"]["self"]
    empty = await follow(client, f"/api/v1/applicants?filter[job_posting_id]={uuid.uuid4()}", h)
    assert empty["data"] == [] and empty["links"]["next"] is None and empty["links"]["prev"] is None
    assert page_of(empty["links"]["last"]) == 1


async def test_public_postings_have_links(account: Account, client: AsyncTestClient[Litestar]) -> None:
    ours = {(await make_job(account))["id"] for _ in range(3)}
    page = await follow(client, "/public/v1/job_postings?page[size]=2", {})
    total, seen = page["meta"]["total"], [r["id"] for r in page["data"]]
    assert page["links"]["prev"] is None and page_of(page["links"]["last"]) == -(-total // 2)
    while page["links"]["next"]:
        page = await follow(client, page["links"]["next"], {})
        seen += [r["id"] for r in page["data"]]
    assert ours <= set(seen) and len(seen) == total
    assert page_of(page["links"]["self"]) == page_of(page["links"]["last"])
    one = next(r for r in (await follow(client, "/public/v1/job_postings?page[size]=100", {}))["data"])
    item = await follow(client, one["links"]["self"], {})
    assert item["data"]["id"] == one["id"] and item["links"]["self"] == one["links"]["self"]


async def test_created_applicant_has_location(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account)
    body = apply_body(job["id"])
    headers = {**HEADERS, "Idempotency-Key": str(uuid.uuid4())}
    response = await client.post("/public/v1/applicants?include=applicant_documents", json=body, headers=headers)
    created = assert_jsonapi(response, 201)
    location = response.headers["location"]
    assert location == created["data"]["links"]["self"] == f"/api/v1/applicants/{created['data']['id']}"
    # the documents still come back in `included` with their upload instructions (§6)
    assert created["included"][0]["type"] == "applicant_document" and created["included"][0]["meta"]["upload"]
    recruiter_view = assert_jsonapi(await client.get(location, headers=account.headers), 200)
    assert recruiter_view["data"]["id"] == created["data"]["id"]
    # a replayed create answers the same 201, Location included
    replay = await client.post("/public/v1/applicants?include=applicant_documents", json=body, headers=headers)
    assert assert_jsonapi(replay, 201) == created and replay.headers["location"] == location

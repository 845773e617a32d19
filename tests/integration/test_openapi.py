"""The OpenAPI document is the truth: every operation's real answers are documented, and the docs page is offline."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate

from tests.conftest import PASSWORD, Account
from tests.integration.helpers import make_application, make_job
from tests.integration.test_public_apply import apply_body, upload
from tests.integration.webhook_receiver import Receiver, eventually
from tests.samples import PDF

JSONAPI = "application/vnd.api+json"
PROBLEM = "application/problem+json"
JSON_MEDIA = ("application/json", PROBLEM, JSONAPI)
METHODS = ("get", "post", "put", "patch", "delete")
UNAUTHENTICATED = {"/api/v1/auth/token", "/api/v1/auth/refresh"}


async def fetch_spec(client: AsyncTestClient[Litestar]) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items() if m in METHODS]


async def test_the_document_is_valid_openapi_3_1(client: AsyncTestClient[Litestar]) -> None:
    spec = await fetch_spec(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec)


async def test_security_media_types_and_error_shapes_are_declared(client: AsyncTestClient[Litestar]) -> None:
    spec = await fetch_spec(client)
    assert spec["components"]["securitySchemes"]["bearer"]["type"] == "http"
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "security" not in spec  # none by default: /public and /health need no token
    schemas = spec["components"]["schemas"]
    for method, path, op in operations(spec):
        name = f"{method} {path}"
        assert op.get("summary") and op.get("description"), name
        if path.startswith("/api/v1/") and path not in UNAUTHENTICATED:
            assert op.get("security") == [{"bearer": []}], name
            assert "401" in op["responses"], name
        else:
            assert not op.get("security"), name
        jsonapi = path.startswith(("/public/", "/api/v1/applicants"))
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                ref = "JsonApiErrors" if jsonapi else "Problem"
                assert response["content"] == {
                    (JSONAPI if jsonapi else PROBLEM): {"schema": {"$ref": f"#/components/schemas/{ref}"}}
                }, name
            elif status != "204":
                content = response.get("content")
                assert content, name
                for media, body in content.items():
                    assert body["schema"], f"{name} {status} {media} is untyped"
                    if jsonapi and path != "/metrics":
                        assert media == JSONAPI, name
        if "requestBody" in op and jsonapi:
            assert list(op["requestBody"]["content"]) == [JSONAPI], name
    apply = spec["paths"]["/public/v1/applicants"]["post"]
    assert "example" in apply["requestBody"]["content"][JSONAPI]
    assert apply["responses"]["201"]["content"][JSONAPI]["schema"] == {"$ref": "#/components/schemas/ApplicantDocument"}
    upload_body = spec["paths"]["/api/v1/applications/{application_id}/documents"]["post"]["requestBody"]
    multipart = upload_body["content"]["multipart/form-data"]["schema"]
    form = schemas[multipart["$ref"].rsplit("/", 1)[1]]
    assert form["properties"]["file"]["format"] == "binary"
    assert form["properties"]["type"]["enum"] == ["cv", "cover_letter", "certificate", "other"]
    export = spec["paths"]["/api/v1/applications/{application_id}/export"]["get"]["responses"]["200"]["content"]
    assert export["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
    assert export["application/zip"]["schema"] == {"type": "string", "format": "binary"}
    # Constraints of the msgspec input structs.
    assert schemas["JobCreate"]["additionalProperties"] is False
    assert set(schemas["JobCreate"]["properties"]["employment_type"]["enum"]) >= {"full_time", "internship"}
    assert schemas["JobCreate"]["properties"]["title"]["maxLength"] == 300
    assert schemas["RatingIn"]["properties"]["rating"]["maximum"] == 5
    assert schemas["RatingIn"]["properties"]["criteria"]["additionalProperties"]["minimum"] == 1
    assert schemas["CandidateIn"]["additionalProperties"] is False
    assert "interview" in schemas["StatusMove"]["properties"]["status"]["enum"]


class Conformance:
    """Checks each answer against the document: status documented, body valid for that status and media type."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.covered: set[tuple[str, str]] = set()
        templates = sorted(spec["paths"], key=lambda p: (p.count("{"), p))
        self.patterns = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t) for t in templates]

    def template(self, path: str) -> str:
        for pattern, template in self.patterns:
            if pattern.match(path):
                return template
        raise AssertionError(f"{path} is not in the document")

    def __call__(self, response: httpx.Response, expected: int | None = None) -> httpx.Response:
        request = response.request
        template = self.template(request.url.path)
        name = f"{request.method} {template}"
        if expected is not None:  # None: any answer, as long as the document describes it
            assert response.status_code == expected, f"{name}: {response.status_code} {response.text[:500]}"
        operation = self.spec["paths"][template].get(request.method.lower())
        assert operation is not None, f"{name} is not documented"
        self.covered.add((request.method, template))
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{name} answered {status}, documented {sorted(operation['responses'])}"
        )
        documented = operation["responses"][status]
        if not response.content:
            return response
        media = response.headers["content-type"].split(";")[0].strip()
        content = documented.get("content", {})
        assert media in content, f"{name} {status} answered {media}, documented {sorted(content)}"
        schema = content[media]["schema"]
        if media in JSON_MEDIA:
            validator = jsonschema.Draft202012Validator({**schema, "components": self.spec["components"]})
            errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
            assert not errors, f"{name} {status}: {errors[0].message} at {list(errors[0].path)}"
        else:
            assert schema.get("type") == "string", f"{name} {status} {media}: {schema}"
        return response


async def test_every_operation_answers_as_documented(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    spec = await fetch_spec(client)
    check = Conformance(spec)
    admin = account.headers
    missing = uuid.uuid4()
    _, recruiter = await account.user("recruiter")
    _, compliance = await account.user("compliance")
    jsonapi = {"Accept": JSONAPI, "Content-Type": JSONAPI}

    # auth
    login = check(
        await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": "x" * 12}), 401
    )
    login = check(
        await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD}), 200
    )
    check(await client.post("/api/v1/auth/token", json={"email": "a@example.com", "password": 5}), 422)
    check(await client.post("/api/v1/auth/token?x=1", json={"email": "a@example.com", "password": "p"}), 400)
    pair = login.json()
    check(await client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"}), 401)
    refreshed = check(await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 200)
    own = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    check(await client.get("/api/v1/me", headers=own), 200)
    check(await client.get("/api/v1/me"), 401)
    check(await client.post("/api/v1/auth/logout", headers=own), 204)
    check(await client.post("/api/v1/auth/logout", headers=own), 401)

    # users and API keys
    check(await client.get("/api/v1/users", headers=admin), 200)
    check(await client.get("/api/v1/users", headers=recruiter), 403)
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    user_body = {"email": email, "name": "U", "role": "recruiter", "password": PASSWORD}
    user = check(await client.post("/api/v1/users", json=user_body, headers=admin), 201).json()["data"]
    check(await client.post("/api/v1/users", json=user_body, headers=admin), 409)
    check(await client.post("/api/v1/users", json={**user_body, "role": "boss"}, headers=admin), 422)
    check(await client.get(f"/api/v1/users/{user['id']}", headers=admin), 200)
    check(await client.get(f"/api/v1/users/{missing}", headers=admin), 404)
    check(await client.patch(f"/api/v1/users/{user['id']}", json={"name": "V"}, headers=admin), 200)
    check(await client.patch(f"/api/v1/users/{user['id']}", json={"nickname": "V"}, headers=admin), 422)
    check(await client.delete(f"/api/v1/users/{user['id']}", headers=admin), 204)
    check(await client.delete(f"/api/v1/users/{missing}", headers=admin), 404)
    check(await client.get("/api/v1/api-keys", headers=admin), 200)
    key = check(
        await client.post("/api/v1/api-keys", json={"name": "ci", "role": "recruiter"}, headers=admin), 201
    ).json()["data"]
    check(await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=admin), 422)
    check(await client.get(f"/api/v1/api-keys/{key['id']}", headers=admin), 200)
    check(await client.get(f"/api/v1/api-keys/{key['id']}", headers=other_account.headers), 404)
    check(await client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin), 204)
    check(await client.delete(f"/api/v1/api-keys/{key['id']}", headers=recruiter), 403)

    # the account: controller details and the careers board (admin)
    check(await client.get("/api/v1/account", headers=admin), 200)
    check(await client.get("/api/v1/account", headers=recruiter), 403)
    details = {"controller": {"name": "Acme GmbH", "email": "privacy@acme.example"}}
    check(await client.patch("/api/v1/account", json=details, headers=admin), 200)
    check(await client.patch("/api/v1/account", json={"colour": "red"}, headers=admin), 422)
    check(await client.get("/api/v1/account/careers-board", headers=admin), 200)
    check(await client.get("/api/v1/account/careers-board", headers=recruiter), 403)
    board = {"allowed_origins": ["https://careers.acme.example"]}
    check(await client.patch("/api/v1/account/careers-board", json=board, headers=admin), 200)
    check(await client.patch("/api/v1/account/careers-board", json={"slug": "Not a slug!"}, headers=admin), 422)
    taken = check(await client.get("/api/v1/account/careers-board", headers=other_account.headers), 200)
    slug = {"slug": taken.json()["data"]["slug"]}
    check(await client.patch("/api/v1/account/careers-board", json=slug, headers=admin), 409)

    # jobs and stages
    check(await client.get("/api/v1/jobs", headers=recruiter), 200)
    check(await client.get("/api/v1/jobs?page=0", headers=admin), 422)
    check(await client.get("/api/v1/jobs?status=open", headers=admin), 400)
    job = check(
        await client.post("/api/v1/jobs", json={"title": "Engineer", "status": "published"}, headers=admin), 201
    ).json()["data"]
    check(await client.post("/api/v1/jobs", json={"title": ""}, headers=admin), 422)
    check(await client.post("/api/v1/jobs", content=b"{", headers={**admin, "Content-Type": "application/json"}), 400)
    check(await client.get(f"/api/v1/jobs/{job['id']}", headers=admin), 200)
    check(await client.get(f"/api/v1/jobs/{missing}", headers=admin), 404)
    check(await client.patch(f"/api/v1/jobs/{job['id']}", json={"location": "Berlin"}, headers=admin), 200)
    check(await client.patch(f"/api/v1/jobs/{job['id']}", json={"employment_type": "gig"}, headers=admin), 422)
    spare = await make_job(account, status="draft")
    check(await client.delete(f"/api/v1/jobs/{spare['id']}", headers=compliance), 403)
    check(await client.delete(f"/api/v1/jobs/{spare['id']}", headers=admin), 204)
    check(await client.get("/api/v1/stages", headers=admin), 200)
    check(await client.get("/api/v1/stages", headers={"Authorization": "Bearer nope"}), 401)

    # applications
    application = await make_application(account, job["id"])
    app_id = application["id"]
    base = f"/api/v1/applications/{app_id}"
    check(await client.delete(f"/api/v1/jobs/{job['id']}", headers=admin), 409)
    check(await client.get("/api/v1/applications?status=new&orderby=name", headers=admin), 200)
    check(await client.get("/api/v1/applications?per_page=1000", headers=admin), 422)
    check(await client.get("/api/v1/applications?date_from=yesterday", headers=admin), 400)
    person = {"name": "Grace Hopper", "email": f"g-{uuid.uuid4().hex[:6]}@example.com"}
    check(
        await client.post("/api/v1/applications", json={"job_id": job["id"], "candidate": person}, headers=admin), 201
    )
    check(await client.post("/api/v1/applications", json={"job_id": job["id"]}, headers=admin), 422)
    check(await client.get(base, headers=admin), 200)
    check(await client.get(f"/api/v1/applications/{missing}", headers=admin), 404)
    check(await client.put(f"{base}/status", json={"status": "screening", "note": "ok"}, headers=recruiter), 200)
    check(await client.put(f"{base}/status", json={"status": "lunch"}, headers=admin), 422)
    check(await client.put(f"{base}/status", json={"status": "new"}, headers=admin), 409)
    check(await client.put(f"{base}/status", json={"status": "offer"}, headers={**admin, "If-Match": '"1"'}), 412)
    check(await client.put(f"{base}/status", json={"status": "offer"}, headers=compliance), 403)
    check(await client.patch(base, json={"legal_hold": False}, headers=compliance), 200)
    check(await client.patch(base, json={"legal_hold": False}, headers={**admin, "If-Match": '"1"'}), 412)
    check(await client.patch(base, json={"legal_hold": "no"}, headers=admin), 422)
    note = check(await client.post(f"{base}/notes", json={"content": "Call back"}, headers=recruiter), 201).json()
    note_id = note["data"]["id"]
    check(await client.post(f"{base}/notes", json={"content": ""}, headers=recruiter), 422)
    check(await client.get(f"{base}/notes", headers=admin), 200)
    check(await client.get(f"/api/v1/applications/{missing}/notes", headers=admin), 404)
    check(await client.patch(f"{base}/notes/{note_id}", json={"content": "Called"}, headers=recruiter), 200)
    check(await client.patch(f"{base}/notes/{missing}", json={"content": "Called"}, headers=recruiter), 404)
    check(await client.delete(f"{base}/notes/{note_id}", headers=recruiter), 204)
    check(await client.delete(f"{base}/notes/{note_id}", headers=recruiter), 404)
    check(await client.put(f"{base}/rating", json={"rating": 4, "criteria": {"skills": 5}}, headers=admin), 200)
    check(await client.put(f"{base}/rating", json={"rating": 9}, headers=admin), 422)
    check(await client.get(f"{base}/ratings", headers=admin), 200)
    check(await client.get(f"{base}/ratings", headers=other_account.headers), 404)

    # candidates (people)
    people = check(await client.get("/api/v1/candidates?search=ada", headers=admin), 200).json()["data"]
    person_id = next(p["id"] for p in people if any(a["id"] == app_id for a in p["applications"]))
    person = f"/api/v1/candidates/{person_id}"
    check(await client.get("/api/v1/candidates?per_page=0", headers=admin), 422)
    check(await client.get(person, headers=recruiter), 200)
    check(await client.get(person, headers=other_account.headers), 404)
    check(await client.patch(person, json={"phones": ["+49 30 1234567"]}, headers=recruiter), 200)
    check(await client.patch(person, json={"emails": ["x"]}, headers=recruiter), 422)
    check(await client.patch(person, json={"emails": [application["candidate"]["email"]]}, headers=recruiter), 200)
    check(await client.put(f"{person}/tags", json={"tags": ["python"]}, headers=recruiter), 200)
    check(await client.put(f"{person}/tags", json={"tags": ["<b>"]}, headers=recruiter), 422)
    check(await client.get("/api/v1/tags", headers=admin), 200)
    check(await client.get("/api/v1/sources", headers=recruiter), 200)
    check(await client.put("/api/v1/sources", json={"sources": ["referral", "linkedin"]}, headers=admin), 200)
    check(await client.put("/api/v1/sources", json={"sources": "referral"}, headers=admin), 422)
    check(await client.put("/api/v1/sources", json={"sources": []}, headers=recruiter), 403)
    check(await client.get("/api/v1/data-subjects?email=a@example.com", headers=compliance), 200)
    check(await client.get("/api/v1/data-subjects?email=a@example.com", headers=recruiter), 403)
    check(await client.get(f"{person}/duplicates", headers=recruiter), 200)
    check(await client.get(f"/api/v1/candidates/{missing}/duplicates", headers=admin), 404)
    twin_app = await make_application(account, job["id"], email=f"twin-{uuid.uuid4().hex[:6]}@example.com")
    twin = next(
        p["id"]
        for p in check(await client.get("/api/v1/candidates?per_page=100", headers=admin), 200).json()["data"]
        if any(a["id"] == twin_app["id"] for a in p["applications"])
    )
    check(await client.post(f"{person}/merge", json={"other_id": person_id}, headers=admin), 422)
    check(await client.post(f"{person}/merge", json={"other_id": twin, "dry_run": True}, headers=admin), 200)
    merged = check(await client.post(f"{person}/merge", json={"other_id": twin}, headers=recruiter), 200).json()
    check(await client.post(f"{person}/merge", json={"other_id": twin}, headers=admin), 409)
    undo = f"/api/v1/candidate-merges/{merged['data']['merge_id']}/undo"
    check(await client.post(undo, headers=admin), 200)
    check(await client.post(undo, headers=admin), 409)
    check(await client.post(f"/api/v1/candidate-merges/{missing}/undo", headers=admin), 404)
    check(await client.get(f"{person}/export", headers=compliance), 200)
    check(await client.get(f"{person}/export?format=pdf", headers=admin), 200)
    check(await client.get(f"{person}/export?format=zip", headers=admin), 200)
    check(await client.get(f"{person}/export?format=xml", headers=admin), 422)
    check(await client.get(f"{person}/export", headers=recruiter), 403)

    # documents
    files = {"file": ("cv.pdf", PDF, "application/pdf")}
    doc = check(await client.post(f"{base}/documents", files=files, data={"type": "cv"}, headers=admin), 201)
    doc_id = doc.json()["data"]["id"]
    check(await client.post(f"{base}/documents", data={"type": "cv"}, files={"other": ("x", b"x")}, headers=admin), 422)
    check(await client.get(f"{base}/documents/{doc_id}", headers=admin), 200)
    check(await client.get(f"{base}/documents/{missing}", headers=admin), 404)

    # GDPR
    check(await client.get(f"{base}/export", headers=compliance), 200)
    check(await client.get(f"{base}/export?format=pdf", headers=admin), 200)
    zipped = check(await client.get(f"{base}/export?format=zip", headers=admin), 200)
    assert zipped.content.startswith(b"PK")
    check(await client.get(f"{base}/export?format=xml", headers=admin), 422)
    check(await client.get(f"{base}/export", headers=recruiter), 403)
    check(await client.delete(f"{base}/documents/{doc_id}", headers=admin), 204)
    check(await client.delete(f"{base}/documents/{doc_id}", headers=admin), 404)
    check(await client.post("/api/v1/retention/run?dry_run=true", headers=compliance), 200)
    check(await client.post("/api/v1/retention/run?dry_run=maybe", headers=admin), 400)
    held = await make_application(account, job["id"])
    check(await client.patch(f"/api/v1/applications/{held['id']}", json={"legal_hold": True}, headers=admin), 200)
    check(await client.delete(f"/api/v1/applications/{held['id']}?reason=candidate_request", headers=admin), 409)

    # audit log and stats
    check(await client.get(f"/api/v1/audit-events?application_id={app_id}", headers=compliance), 200)
    check(await client.get("/api/v1/audit-events?nope=1", headers=admin), 400)
    check(await client.get("/api/v1/audit-events/verify", headers=admin), 200)
    check(await client.get("/api/v1/audit-events/verify", headers=recruiter), 403)
    check(await client.post("/api/v1/audit-events/seal", headers=compliance), 200)
    check(await client.post("/api/v1/audit-events/seal", headers=recruiter), 403)
    check(await client.get("/api/v1/events?after=0&types=application.created,job.created", headers=admin), 200)
    check(await client.get("/api/v1/events?types=lunch.eaten", headers=admin), 422)
    check(await client.get("/api/v1/events?limit=0", headers=admin), 422)
    check(await client.get("/api/v1/events", headers=recruiter), 403)
    check(await client.get(f"/api/v1/stats?job_id={job['id']}", headers=admin), 200)
    check(await client.get("/api/v1/stats?date_from=soon", headers=admin), 400)

    # JSON:API recruiter views
    stages = check(await client.get("/api/v1/stages", headers=admin), 200).json()["data"]
    interview = next(s["id"] for s in stages if s["status"] == "interview")
    check(await client.get("/api/v1/applicants?include=applicant_documents", headers={**admin, "Accept": JSONAPI}), 200)
    check(await client.get("/api/v1/applicants?page[size]=0", headers=admin), 400)
    check(await client.get(f"/api/v1/applicants/{app_id}", headers=admin), 200)
    check(await client.get(f"/api/v1/applicants/{app_id}"), 401)
    check(await client.get(f"/api/v1/applicants/{missing}", headers=admin), 404)
    move = {"data": {"type": "applicant", "attributes": {"application_stage_id": interview}}}
    check(await client.put(f"/api/v1/applicants/{app_id}", json=move, headers={**admin, **jsonapi}), 200)
    wrong = {"data": {"type": "applicant", "attributes": {"application_stage_id": str(missing)}}}
    check(await client.put(f"/api/v1/applicants/{app_id}", json=wrong, headers={**admin, **jsonapi}), 422)
    check(await client.patch(f"/api/v1/applicants/{app_id}", json=wrong, headers={**admin, **jsonapi}), 422)
    check(
        await client.patch(f"/api/v1/applicants/{app_id}", json=move, headers={**admin, "Content-Type": "text/plain"}),
        415,
    )
    backwards = {"data": {"type": "applicant", "attributes": {"application_stage_id": stages[0]["id"]}}}
    check(await client.patch(f"/api/v1/applicants/{app_id}", json=backwards, headers={**admin, **jsonapi}), None)

    # a person's erasure: refused under a legal hold, then one receipt, then 404
    held_person = next(
        p["id"]
        for p in check(await client.get("/api/v1/candidates?per_page=100", headers=admin), 200).json()["data"]
        if any(a["id"] == held["id"] for a in p["applications"])
    )
    check(await client.delete(f"/api/v1/candidates/{held_person}?reason=duplicate", headers=admin), 409)
    check(await client.patch(f"/api/v1/applications/{held['id']}", json={"legal_hold": False}, headers=admin), 200)
    check(await client.delete(f"/api/v1/candidates/{held_person}?reason=duplicate", headers=recruiter), 403)
    check(await client.delete(f"/api/v1/candidates/{held_person}?reason=duplicate", headers=admin), 200)
    check(await client.delete(f"/api/v1/candidates/{held_person}?reason=duplicate", headers=admin), 404)

    # the erasure, last: it removes what the checks above used
    check(await client.delete(f"{base}?reason=candidate_request", headers=recruiter), 403)
    check(await client.delete(f"{base}?reason=candidate_request", headers=admin), 200)
    check(await client.delete(f"{base}?reason=candidate_request", headers=admin), 404)

    # public
    check(await client.get("/public/v1/job_postings", headers={"Accept": JSONAPI}), 200)
    check(await client.get("/public/v1/job_postings", headers={"Accept": "text/html"}), 406)
    check(await client.get(f"/public/v1/job_postings/{job['id']}", headers={"Accept": JSONAPI}), 200)
    check(await client.get(f"/public/v1/job_postings/{missing}", headers={"Accept": JSONAPI}), 404)
    path = "/public/v1/applicants?include=applicant_documents"
    applied = check(await client.post(path, json=apply_body(job["id"]), headers=jsonapi), 201).json()
    check(await client.post(path, json=apply_body(job["id"]), headers={"Content-Type": "application/json"}), 415)
    check(await client.post(path, json=apply_body(job["id"], documents=[{"extension": "exe"}]), headers=jsonapi), 422)
    document = applied["included"][0]
    assert (await upload(document["meta"]["upload"], PDF)).status_code in (200, 201, 204)
    done = f"/public/v1/applicant_documents/{document['id']}/complete"
    token = document["meta"]["upload"]["upload_token"]
    body = {"data": {"type": "applicant_document", "id": document["id"], "attributes": {"upload_token": token}}}
    check(await client.post(done, json=body, headers=jsonapi), 200)
    check(await client.post(done, json=body, headers=jsonapi), 409)
    check(await client.post(done, json={"data": {}}, headers=jsonapi), 422)
    check(await client.post(done, json=body, headers={"Content-Type": "text/plain"}), 415)

    # webhooks (§12)
    receiver = Receiver().start()
    try:
        hook_body = {"url": receiver.url, "events": ["application.created"]}
        check(await client.get("/api/v1/webhooks", headers=admin), 200)
        check(await client.get("/api/v1/webhooks", headers=recruiter), 403)
        hook = check(await client.post("/api/v1/webhooks", json=hook_body, headers=admin), 201).json()["data"]
        check(await client.post("/api/v1/webhooks", json={**hook_body, "events": ["nope"]}, headers=admin), 422)
        hook_path = f"/api/v1/webhooks/{hook['id']}"
        check(await client.get(hook_path, headers=admin), 200)
        check(await client.get(f"/api/v1/webhooks/{missing}", headers=admin), 404)
        check(await client.patch(hook_path, json={"events": ["*"]}, headers=admin), 200)
        check(await client.patch(hook_path, json={"url": "ftp://x"}, headers=admin), 422)
        check(await client.post(f"{hook_path}/rotate-secret", headers=admin), 200)
        check(await client.post(f"/api/v1/webhooks/{missing}/rotate-secret", headers=admin), 404)
        check(await client.post(f"{hook_path}/ping", headers=admin), 202)
        await eventually(lambda: len(receiver.ok()) == 1)

        async def delivered() -> list[Any]:
            found = check(await client.get(f"{hook_path}/deliveries", headers=admin), 200).json()["data"]
            return [d for d in found if d["status"] == "delivered"]

        await eventually(delivered)
        check(await client.get(f"{hook_path}/deliveries?page=0", headers=admin), 422)
        [sent] = await delivered()
        redeliver = f"{hook_path}/deliveries/{sent['id']}/redeliver"
        check(await client.post(redeliver, headers=admin), 202)
        check(await client.post(f"{hook_path}/deliveries/{missing}/redeliver", headers=admin), 404)
        await eventually(lambda: len(receiver.ok()) == 2)
        check(await client.patch(hook_path, json={"active": False}, headers=admin), 200)
        check(await client.post(f"{hook_path}/ping", headers=admin), 409)
        check(await client.delete(hook_path, headers=admin), 204)
        check(await client.delete(hook_path, headers=admin), 404)
    finally:
        receiver.stop()

    # health and metrics
    check(await client.get("/health/live"), 200)
    check(await client.get("/health/ready"), 200)
    check(await client.get("/metrics"), 200)

    documented = {(method, path) for method, path, _ in operations(spec)}
    assert documented - check.covered == set(), "operations never driven"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_the_docs_page_loads_everything_from_the_app(client: AsyncTestClient[Litestar], page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = _Links()
    parser.feed(response.text)
    assert len(parser.urls) >= 3  # the script, the preset and the stylesheet at least
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not served by the app"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assert "fonts.googleapis" not in response.text and "cdn." not in response.text

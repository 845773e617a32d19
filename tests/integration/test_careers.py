"""Careers sites (§1 CORS, §3 public board, §14 board): browsers on other origins, one board per account."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
import pytest
from ats.storage import Documents, make_client
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ats import ATSConfig, ATSPlugin
from ats.runtime import Runtime
from ats.settings import Settings
from tests.conftest import Account, problem
from tests.integration.helpers import make_job
from tests.integration.test_public_apply import JSONAPI, apply_body, errors_of, post_apply
from tests.samples import PDF

CAREERS = "https://careers.example.com"
DASHBOARD = "https://dashboard.example.com"
STRANGER = "https://evil.example.net"


@pytest.fixture(scope="module")
async def cors_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The API with ``ATS_CORS_ORIGINS`` and ``ATS_CORS_DASHBOARD_ORIGINS`` set."""
    configured = dataclasses.replace(settings, cors_origins=(CAREERS,), cors_dashboard_origins=(DASHBOARD,))
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=configured, background_jobs=False))])
    async with AsyncTestClient(app=app, timeout=60) as client:
        yield client


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def listed(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


async def preflight(
    client: AsyncTestClient[Litestar], url: str, origin: str, method: str, headers: str
) -> httpx.Response:
    return await client.options(
        url,
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )


async def bucket_allows(runtime: Runtime, origin: str) -> None:
    """Wait until the bucket's CORS rule names ``origin`` (it is set after the board change commits)."""
    for _ in range(200):
        if origin in await anyio.to_thread.run_sync(runtime.documents.cors_origins):
            return
        await anyio.sleep(0.1)
    raise AssertionError(f"the bucket's CORS rule never named {origin}")


# --- CORS -------------------------------------------------------------------------------------------------------


async def test_public_preflight_with_a_query_string_is_answered(cors_client: AsyncTestClient[Litestar]) -> None:
    response = await preflight(
        cors_client,
        "/public/v1/applicants?include=applicant_documents",
        CAREERS,
        "POST",
        "content-type,idempotency-key",
    )
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == CAREERS
    assert "post" in listed(response.headers["access-control-allow-methods"])
    assert {"content-type", "idempotency-key"} <= listed(response.headers["access-control-allow-headers"])
    assert "authorization" not in listed(response.headers["access-control-allow-headers"])
    assert int(response.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in listed(response.headers["vary"])


async def test_public_requests_from_a_listed_origin(account: Account, cors_client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(dataclasses.replace(account, client=cors_client))
    created = await post_apply(cors_client, apply_body(job["id"]), Origin=CAREERS)
    assert created.status_code == 201, created.text
    assert created.headers["access-control-allow-origin"] == CAREERS
    assert "location" in listed(created.headers["access-control-expose-headers"])
    assert "origin" in listed(created.headers["vary"])
    # Errors are readable by the page too: the form shows them.
    refused = await post_apply(cors_client, apply_body(job["id"], email="nope"), Origin=CAREERS)
    errors_of(refused, 422)
    assert refused.headers["access-control-allow-origin"] == CAREERS
    listing = await cors_client.get("/public/v1/job_postings", headers={"Origin": CAREERS, "Accept": JSONAPI})
    assert listing.status_code == 200
    assert listing.headers["access-control-allow-origin"] == CAREERS
    assert "etag" in listed(listing.headers["access-control-expose-headers"])


async def test_recruiter_api_from_a_dashboard_origin(account: Account, cors_client: AsyncTestClient[Litestar]) -> None:
    response = await preflight(cors_client, "/api/v1/jobs?status=published", DASHBOARD, "GET", "authorization")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in listed(response.headers["access-control-allow-headers"])
    assert "patch" in listed(response.headers["access-control-allow-methods"])
    jobs = await cors_client.get("/api/v1/jobs", headers={**account.headers, "Origin": DASHBOARD})
    assert jobs.status_code == 200
    assert jobs.headers["access-control-allow-origin"] == DASHBOARD
    unauthenticated = await cors_client.get("/api/v1/jobs", headers={"Origin": DASHBOARD})
    problem(unauthenticated, 401)
    assert unauthenticated.headers["access-control-allow-origin"] == DASHBOARD
    # A careers origin is not a dashboard origin.
    careers = await preflight(cors_client, "/api/v1/jobs", CAREERS, "GET", "authorization")
    assert careers.status_code < 500 and cors_headers(careers) == {}
    careers_get = await cors_client.get("/api/v1/jobs", headers={**account.headers, "Origin": CAREERS})
    assert careers_get.status_code == 200 and cors_headers(careers_get) == {}


async def test_unlisted_origin_gets_no_cors_headers(account: Account, cors_client: AsyncTestClient[Litestar]) -> None:
    for url, method in [
        ("/public/v1/applicants?include=applicant_documents", "POST"),
        ("/public/v1/job_postings?filter[board]=x", "GET"),
        ("/api/v1/jobs", "GET"),
    ]:
        response = await preflight(cors_client, url, STRANGER, method, "content-type,authorization")
        assert response.status_code < 500, response.text
        assert cors_headers(response) == {}, url
    for origin in ["null", "https://careers.example.com.evil.net", "http://careers.example.com", "*", "x" * 2000]:
        response = await preflight(cors_client, "/public/v1/job_postings", origin, "GET", "")
        assert response.status_code < 500 and cors_headers(response) == {}, origin
    listing = await cors_client.get("/public/v1/job_postings", headers={"Origin": STRANGER})
    assert listing.status_code == 200 and cors_headers(listing) == {}
    # Without CORS settings nothing is allowed, and a plain request without Origin is untouched.
    plain = await cors_client.get("/public/v1/job_postings")
    assert plain.status_code == 200 and cors_headers(plain) == {}


async def test_board_origins_allow_the_public_api(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    origin = f"https://jobs-{account.id.hex[:8]}.example.org"
    url = "/public/v1/applicants?include=applicant_documents"
    before = await preflight(client, url, origin, "POST", "content-type")
    assert before.status_code == 204 and cors_headers(before) == {}

    patched = await client.patch(
        "/api/v1/account/careers-board", json={"allowed_origins": [origin + "/"]}, headers=account.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["allowed_origins"] == [origin]  # as browsers send it

    after = await preflight(client, url, origin, "POST", "content-type")
    assert after.status_code == 204 and after.headers["access-control-allow-origin"] == origin
    job = await make_job(other_account)
    listing = await client.get(f"/public/v1/job_postings/{job['id']}", headers={"Origin": origin})
    assert listing.headers["access-control-allow-origin"] == origin
    # Board origins open the public API only, never the recruiter API.
    recruiter = await client.get("/api/v1/jobs", headers={**account.headers, "Origin": origin})
    assert cors_headers(recruiter) == {}

    # The bucket's CORS rule follows.
    await bucket_allows(runtime, origin)

    cleared = await client.patch("/api/v1/account/careers-board", json={"allowed_origins": []}, headers=account.headers)
    assert cleared.status_code == 200 and cleared.json()["data"]["allowed_origins"] == []
    gone = await preflight(client, url, origin, "POST", "content-type")
    assert cors_headers(gone) == {}


async def test_bucket_answers_browser_preflights_for_allowed_origins(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime, settings: Settings
) -> None:
    origin = f"https://upload-{account.id.hex[:8]}.example.org"
    response = await client.patch(
        "/api/v1/account/careers-board", json={"allowed_origins": [origin]}, headers=account.headers
    )
    assert response.status_code == 200
    await bucket_allows(runtime, origin)
    bucket_url = f"{settings.s3_endpoint_url}/{settings.s3_bucket}/"
    async with httpx.AsyncClient() as s3:
        allowed = await s3.options(bucket_url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        refused = await s3.options(bucket_url, headers={"Origin": STRANGER, "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in refused.headers or refused.headers["access-control-allow-origin"] != (
        STRANGER
    )


# --- the board -----------------------------------------------------------------------------------------------------


async def test_board_settings(account: Account, other_account: Account, client: AsyncTestClient[Litestar]) -> None:
    board = await client.get("/api/v1/account/careers-board", headers=account.headers)
    assert board.status_code == 200, board.text
    slug = board.json()["data"]["slug"]
    assert slug.startswith("test-") and board.json()["data"]["allowed_origins"] == []  # made from "Test xxxxxx"

    new_slug = f"acme-{account.id.hex[:10]}"
    renamed = await client.patch("/api/v1/account/careers-board", json={"slug": new_slug}, headers=account.headers)
    assert renamed.status_code == 200 and renamed.json()["data"]["slug"] == new_slug

    other_slug = (await client.get("/api/v1/account/careers-board", headers=other_account.headers)).json()["data"]
    taken = await client.patch(
        "/api/v1/account/careers-board", json={"slug": other_slug["slug"]}, headers=account.headers
    )
    problem(taken, 409)
    for bad in ["A", "Acme", "-acme", "acme-", "ac me", "a" * 64, "é-corp"]:
        problem(await client.patch("/api/v1/account/careers-board", json={"slug": bad}, headers=account.headers), 422)
    for bad_origins in [
        ["careers.example.com"],
        ["https://x.example/path"],
        ["*"],
        [f"https://{i}.x" for i in range(21)],
    ]:
        body = problem(
            await client.patch(
                "/api/v1/account/careers-board", json={"allowed_origins": bad_origins}, headers=account.headers
            ),
            422,
        )
        assert body["errors"][0]["pointer"].startswith("/allowed_origins"), body
    problem(await client.patch("/api/v1/account/careers-board", json={"colour": "red"}, headers=account.headers), 422)
    _, recruiter = await account.user("recruiter")
    problem(await client.get("/api/v1/account/careers-board", headers=recruiter), 403)
    problem(await client.patch("/api/v1/account/careers-board", json={"slug": "x-y"}, headers=recruiter), 403)
    assert (await client.get("/api/v1/account/careers-board", headers=account.headers)).json()["data"]["slug"] == (
        new_slug
    )


async def slug_of(account: Account) -> str:
    response = await account.client.get("/api/v1/account/careers-board", headers=account.headers)
    slug: str = response.json()["data"]["slug"]
    return slug


async def test_board_filter(account: Account, other_account: Account, client: AsyncTestClient[Litestar]) -> None:
    mine = await make_job(account, title="Mine")
    await make_job(account, title="Draft", status="draft")
    theirs = await make_job(other_account, title="Theirs")
    slug = await slug_of(account)
    response = await client.get(f"/public/v1/job_postings?filter[board]={slug}", headers={"Accept": JSONAPI})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["data"]] == [mine["id"]]
    assert body["meta"]["total"] == 1
    other = await client.get(f"/public/v1/job_postings?filter[board]={await slug_of(other_account)}")
    assert [r["id"] for r in other.json()["data"]] == [theirs["id"]]
    # Without the filter: every account's active postings, as before.
    everything = await client.get("/public/v1/job_postings?page[size]=100")
    ids = {r["id"] for r in everything.json()["data"]}
    assert {mine["id"], theirs["id"]} <= ids

    for unknown in ["no-such-board-anywhere", "UPPER", "x" * 100, ""]:
        missing = await client.get("/public/v1/job_postings", params={"filter[board]": unknown})
        error = errors_of(missing, 404)[0]
        assert error["code"] == "not_found"


async def test_json_ld(account: Account, client: AsyncTestClient[Litestar]) -> None:
    closes = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    job = await make_job(
        account,
        title="Backend Engineer",
        description="Build the API.",
        location="Berlin",
        employment_type="part_time",
        closes_at=closes.isoformat().replace("+00:00", "Z"),
    )
    remote = await make_job(account, title="Remote SRE", location="Remote (EU)", employment_type="contract")
    name = (await client.get("/api/v1/me", headers=account.headers)).json()["data"]["account"]["name"]

    one = await client.get(f"/public/v1/job_postings/{job['id']}", headers={"Accept": JSONAPI})
    assert one.status_code == 200, one.text
    ld = one.json()["data"]["meta"]["json_ld"]
    assert ld["@context"].startswith("https://schema.org") and ld["@type"] == "JobPosting"
    assert ld["title"] == "Backend Engineer" and ld["description"] == "Build the API."
    assert ld["datePosted"] == job["created_at"]
    assert datetime.fromisoformat(ld["validThrough"].replace("Z", "+00:00")) == closes
    assert ld["employmentType"] == "PART_TIME"
    assert ld["hiringOrganization"] == {"@type": "Organization", "name": name}
    assert ld["jobLocation"]["@type"] == "Place"
    assert ld["jobLocation"]["address"]["addressLocality"] == "Berlin"
    assert ld["identifier"]["value"] == job["id"]
    assert "jobLocationType" not in ld

    listing = await client.get(f"/public/v1/job_postings?filter[board]={await slug_of(account)}")
    by_id = {r["id"]: r["meta"]["json_ld"] for r in listing.json()["data"]}
    assert by_id[job["id"]] == ld
    remote_ld = by_id[remote["id"]]
    assert remote_ld["jobLocationType"] == "TELECOMMUTE" and "jobLocation" not in remote_ld
    assert remote_ld["employmentType"] == "CONTRACTOR" and "validThrough" not in remote_ld


async def test_etag_and_conditional_gets(account: Account, client: AsyncTestClient[Litestar]) -> None:
    job = await make_job(account, title="Cached")
    slug = await slug_of(account)
    for url in [f"/public/v1/job_postings/{job['id']}", f"/public/v1/job_postings?filter[board]={slug}"]:
        first = await client.get(url, headers={"Accept": JSONAPI})
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        assert "max-age" in first.headers["cache-control"]
        again = await client.get(url, headers={"Accept": JSONAPI, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and "cache-control" in again.headers
        listed_tags = await client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
        assert listed_tags.status_code == 304
        stale = await client.get(url, headers={"If-None-Match": '"0123456789abcdef"'})
        assert stale.status_code == 200 and stale.json() == first.json()

    first = await client.get(f"/public/v1/job_postings/{job['id']}")
    changed = await client.patch(f"/api/v1/jobs/{job['id']}", json={"title": "Renamed"}, headers=account.headers)
    assert changed.status_code == 200
    after = await client.get(f"/public/v1/job_postings/{job['id']}", headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200 and after.json()["data"]["attributes"]["title"] == "Renamed"
    assert after.headers["etag"] != first.headers["etag"]


# --- presigning for browsers ---------------------------------------------------------------------------------------


def _other_host(url: str) -> str:
    """The same S3 by its other loopback name (``127.0.0.1`` ↔ ``localhost``)."""
    parts = urlsplit(url)
    host = "localhost" if parts.hostname == "127.0.0.1" else "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}"))


async def test_presigned_urls_name_the_public_endpoint(settings: Settings, runtime: Runtime) -> None:
    assert settings.s3_endpoint_url
    public = _other_host(settings.s3_endpoint_url)
    configured = dataclasses.replace(settings, s3_public_endpoint_url=public)
    other = Runtime.create(configured)
    try:
        key = f"staging/test-{datetime.now(UTC).timestamp()}"
        post = other.documents.presign_post(key, max_bytes=1024 * 1024, content_type="application/pdf", expires_in=60)
        assert urlsplit(post.url).netloc == urlsplit(public).netloc
        assert urlsplit(post.url).netloc != urlsplit(settings.s3_endpoint_url).netloc
        async with httpx.AsyncClient() as browser:
            uploaded = await browser.post(post.url, data=post.fields, files={"file": ("resume.pdf", PDF)})
        assert uploaded.status_code in (200, 201, 204), uploaded.text
        # The server reads it through its own endpoint.
        assert await anyio.to_thread.run_sync(other.documents.head, key) == len(PDF)
        await anyio.to_thread.run_sync(other.documents.delete, key)
    finally:
        await other.engine.dispose()
    # Without the setting, URLs name the server's endpoint as before.
    own = runtime.documents.presign_post("staging/x", max_bytes=10, content_type="application/pdf", expires_in=60)
    assert urlsplit(own.url).netloc == urlsplit(settings.s3_endpoint_url).netloc


def test_documents_presigner_is_only_used_for_signing(settings: Settings) -> None:
    assert settings.s3_endpoint_url
    client = make_client(
        settings.s3_endpoint_url, settings.s3_access_key_id, settings.s3_secret_access_key, settings.s3_region
    )
    public = make_client(
        "https://uploads.example.com", settings.s3_access_key_id, settings.s3_secret_access_key, settings.s3_region
    )
    documents = Documents(client, settings.s3_bucket, public)
    documents.ping()  # the server's own endpoint answers
    post = documents.presign_post("k", max_bytes=10, content_type="application/pdf", expires_in=60)
    assert post.url.startswith("https://uploads.example.com/")


# --- the migration -------------------------------------------------------------------------------------------------


def _backfill_in_a_fresh_database(database_url: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Migrate a new database to 0006, add accounts, upgrade: the slugs made for them (and the downgrade works)."""
    from alembic import command
    from sqlalchemy import create_engine, make_url, text

    from ats import migrate

    url = make_url(database_url)
    name = f"ats_board_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(fresh)
    try:
        migrate.upgrade(fresh, "0006")
        with engine.begin() as connection:
            for i, account in enumerate(["ACME", "Acme", "王", "x", "Zürich Jobs"]):
                connection.execute(
                    text("INSERT INTO accounts (id, name, created_at) VALUES (:id, :name, now() + :i * interval '1s')"),
                    {"id": uuid.uuid4(), "name": account, "i": i},
                )
        migrate.upgrade(fresh)
        with engine.connect() as connection:
            slugs = [
                (r[0], r[1])
                for r in connection.execute(text("SELECT name, board_slug FROM accounts ORDER BY created_at"))
            ]
            origins = [o for r in connection.execute(text("SELECT board_origins FROM accounts")) for o in r[0]]
        command.downgrade(migrate.alembic_config(fresh), "0006")
        return slugs, origins
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_migration_backfills_unique_board_slugs(superuser_url: str) -> None:
    slugs, origins = await anyio.to_thread.run_sync(_backfill_in_a_fresh_database, superuser_url)
    assert slugs == [
        ("ACME", "acme"),
        ("Acme", "acme-2"),
        ("王", "board"),
        ("x", "board-2"),
        ("Zürich Jobs", "zurich-jobs"),
    ]
    assert origins == []

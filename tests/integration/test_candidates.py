"""§13 candidates: people across applications — attach on apply, list, get, edit, tags, data subjects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from ats.models import Candidate
from ats.runtime import Runtime
from tests.conftest import Account, problem
from tests.integration.helpers import assert_jsonapi, make_application, make_job
from tests.integration.test_public_apply import apply_body, post_apply

CANDIDATE_KEYS = {
    "id",
    "name",
    "salutation",
    "first_name",
    "last_name",
    "email",
    "emails",
    "phones",
    "address",
    "links",
    "tags",
    "source",
    "consent",
    "version",
    "created_at",
    "updated_at",
    "applications",
}


async def candidate_of(client: AsyncTestClient[Litestar], account: Account, application_id: str) -> dict[str, Any]:
    """The candidate an application links to (found through the list: the application shape is §5's)."""
    found = await client.get("/api/v1/candidates?per_page=100", headers=account.headers)
    assert found.status_code == 200, found.text
    for person in found.json()["data"]:
        if any(a["id"] == application_id for a in person["applications"]):
            return dict(person)
    raise AssertionError(f"no candidate has application {application_id}")


async def test_a_public_apply_with_a_known_email_attaches_to_that_person_silently(
    client: AsyncTestClient[Litestar], account: Account, runtime: Runtime
) -> None:
    first_job, second_job = await make_job(account), await make_job(account, title="Designer")
    email = f"Mia.Muster-{uuid.uuid4().hex[:6]}@Example.com"
    first = await post_apply(
        client, apply_body(first_job["id"], email=email, name="Mia Muster", phone="+49 30 1234567")
    )
    second = await post_apply(client, apply_body(second_job["id"], email=email.lower(), name="Mia Muster"))
    # The applicant is not told: the same status, the same document shape, their own email echoed.
    assert first.status_code == second.status_code == 201
    one, two = assert_jsonapi(first)["data"], assert_jsonapi(second)["data"]
    assert set(one) == set(two) and set(one["attributes"]) == set(two["attributes"])
    assert two["attributes"]["email"] == email.lower()
    person = await candidate_of(client, account, one["id"])
    assert set(person) == CANDIDATE_KEYS
    assert {a["id"] for a in person["applications"]} == {one["id"], two["id"]}
    assert {a["job"]["title"] for a in person["applications"]} == {"Engineer", "Designer"}
    assert person["email"] == email and person["emails"] == [email]
    assert person["phones"] == ["+49301234567"]  # E.164
    assert person["consent"]["privacy_policy"] is True
    # The application still embeds the candidate as §5 (as given with that application).
    application = (await client.get(f"/api/v1/applications/{two['id']}", headers=account.headers)).json()["data"]
    assert application["candidate"]["email"] == email.lower()
    assert set(application["candidate"]) == {
        "name",
        "salutation",
        "first_name",
        "last_name",
        "email",
        "phone",
        "address",
    }
    async with runtime.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(Candidate).where(Candidate.account_id == account.id)
        )
    assert count == 1
    # Once per posting, whatever the case.
    again = await post_apply(client, apply_body(first_job["id"], email=email.upper()))
    assert again.status_code == 422


async def test_a_recruiter_adding_a_known_person_attaches_too_and_accounts_stay_apart(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    job, other_job = await make_job(account), await make_job(other_account)
    email = f"grace-{uuid.uuid4().hex[:6]}@example.com"
    a = await make_application(account, job["id"], email=email, name="Grace Hopper")
    b = await make_application(account, (await make_job(account))["id"], email=email.upper(), name="Grace Hopper")
    theirs = await make_application(other_account, other_job["id"], email=email, name="Grace Hopper")
    person = await candidate_of(client, account, a["id"])
    assert {x["id"] for x in person["applications"]} == {a["id"], b["id"]}
    other_person = await candidate_of(client, other_account, theirs["id"])
    assert other_person["id"] != person["id"]
    # Another account's candidate is a 404, never a 403, on every route.
    path = f"/api/v1/candidates/{other_person['id']}"
    problem(await client.get(path, headers=account.headers), 404, "not_found")
    problem(await client.patch(path, json={"name": "X"}, headers=account.headers), 404, "not_found")
    problem(await client.put(f"{path}/tags", json={"tags": ["x"]}, headers=account.headers), 404, "not_found")
    problem(await client.get(f"/api/v1/candidates/{uuid.uuid4()}", headers=account.headers), 404, "not_found")


async def test_list_search_tag_updated_since_and_cursor(client: AsyncTestClient[Litestar], account: Account) -> None:
    job = await make_job(account)
    ids = []
    for i in range(5):
        app = await make_application(account, job["id"], name=f"Person {i} Zebrafinch" if i % 2 else f"Person {i}")
        ids.append((await candidate_of(client, account, app["id"]))["id"])
    headers = account.headers
    found = (await client.get("/api/v1/candidates?search=zebrafinch", headers=headers)).json()
    assert {c["id"] for c in found["data"]} == {ids[1], ids[3]} and found["meta"]["total"] == 2
    tagged = await client.put(
        f"/api/v1/candidates/{ids[0]}/tags", json={"tags": [" Python ", "python", "Senior Dev"]}, headers=headers
    )
    assert tagged.status_code == 200, tagged.text
    assert tagged.json()["data"]["tags"] == ["python", "senior dev"]
    await client.put(f"/api/v1/candidates/{ids[2]}/tags", json={"tags": ["python"]}, headers=headers)
    by_tag = (await client.get("/api/v1/candidates?tag=Python", headers=headers)).json()["data"]
    assert {c["id"] for c in by_tag} == {ids[0], ids[2]}
    tags = (await client.get("/api/v1/tags", headers=headers)).json()["data"]
    assert tags == [{"tag": "python", "count": 2}, {"tag": "senior dev", "count": 1}]
    problem(await client.put(f"/api/v1/candidates/{ids[0]}/tags", json={"tags": ["<script>"]}, headers=headers), 422)
    problem(await client.put(f"/api/v1/candidates/{ids[0]}/tags", json={"tags": "python"}, headers=headers), 422)
    # updated_since: only what changed at or after the time
    since = datetime.now(UTC).isoformat()
    await client.patch(f"/api/v1/candidates/{ids[4]}", json={"first_name": "Ida"}, headers=headers)
    changed = (await client.get("/api/v1/candidates", params={"updated_since": since}, headers=headers)).json()
    assert [c["id"] for c in changed["data"]] == [ids[4]]
    problem(await client.get("/api/v1/candidates?updated_since=yesterday", headers=headers), 400)
    problem(await client.get("/api/v1/candidates?colour=red", headers=headers), 400)
    # cursor: every candidate once, newest first, total kept
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"per_page": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/candidates", params=params, headers=headers)).json()
        seen += [c["id"] for c in page["data"]]
        assert page["meta"]["total"] == 5
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    problem(await client.get("/api/v1/candidates?cursor=bogus", headers=headers), 422)


async def test_patch_normalises_and_refuses_what_is_wrong(client: AsyncTestClient[Litestar], account: Account) -> None:
    job = await make_job(account)
    a = await candidate_of(client, account, (await make_application(account, job["id"]))["id"])
    b = await candidate_of(client, account, (await make_application(account, job["id"]))["id"])
    path = f"/api/v1/candidates/{a['id']}"
    body = {
        "name": "Ada King",
        "emails": ["ada.king@example.com", a["email"], "ADA.KING@example.com"],
        "phones": ["+44 20 7946 0958", "+44 (20) 79460958"],
        "address": {"city": "London", "country": "GB"},
        "links": ["https://www.linkedin.com/in/ada-king"],
    }
    changed = await client.patch(path, json=body, headers=account.headers)
    assert changed.status_code == 200, changed.text
    person = changed.json()["data"]
    assert person["email"] == "ada.king@example.com"
    assert person["emails"] == ["ada.king@example.com", a["email"]]
    assert person["phones"] == ["+442079460958"]
    assert person["address"]["city"] == "London" and person["version"] == a["version"] + 1
    taken = await client.patch(path, json={"emails": [b["email"].upper()]}, headers=account.headers)
    problem(taken, 409, "already_exists")
    problem(await client.patch(path, json={"emails": ["not-an-email"]}, headers=account.headers), 422)
    problem(await client.patch(path, json={"emails": []}, headers=account.headers), 422)
    problem(await client.patch(path, json={"nickname": "Ada"}, headers=account.headers), 422)
    _, compliance = await account.user("compliance")
    problem(await client.patch(path, json={"name": "X"}, headers=compliance), 403, "forbidden")
    assert (await client.get(path, headers=compliance)).status_code == 200


async def test_hiring_managers_see_only_people_of_their_postings(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    manager_id, manager = await account.user("hiring_manager")
    theirs = await make_job(account, hiring_team=[manager_id])
    other = await make_job(account, title="Other")
    email = f"both-{uuid.uuid4().hex[:6]}@example.com"
    mine = await make_application(account, theirs["id"], email=email)
    hidden = await make_application(account, other["id"], email=email)
    stranger = await make_application(account, other["id"])
    listed = (await client.get("/api/v1/candidates", headers=manager)).json()["data"]
    assert len(listed) == 1
    # The person is visible; of their applications only the one on the manager's posting.
    assert [a["id"] for a in listed[0]["applications"]] == [mine["id"]]
    assert hidden["id"] not in str(listed)
    stranger_person = await candidate_of(client, account, stranger["id"])
    problem(await client.get(f"/api/v1/candidates/{stranger_person['id']}", headers=manager), 404)


async def test_data_subjects_finds_a_person_by_any_email_they_used(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    job = await make_job(account)
    used = f"old-{uuid.uuid4().hex[:6]}@example.com"
    app = await make_application(account, job["id"], email=used)
    person = await candidate_of(client, account, app["id"])
    await client.patch(
        f"/api/v1/candidates/{person['id']}", json={"emails": ["new-" + used, "alias-" + used]}, headers=account.headers
    )
    _, compliance = await account.user("compliance")
    _, recruiter = await account.user("recruiter")
    for email in (used.upper(), "ALIAS-" + used, "new-" + used):
        found = await client.get("/api/v1/data-subjects", params={"email": email}, headers=compliance)
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["data"]] == [person["id"]]
    none = await client.get("/api/v1/data-subjects", params={"email": "nobody@example.com"}, headers=compliance)
    assert none.json()["data"] == []
    problem(await client.get("/api/v1/data-subjects", params={"email": used}, headers=recruiter), 403)
    problem(await client.get("/api/v1/data-subjects", headers=compliance), 400)


def _migrate_in_a_fresh_database(database_url: str) -> tuple[list[tuple[str, int]], int]:
    """Migrate a new database to 0009, add applications, upgrade: the candidates made for them."""
    from alembic import command
    from sqlalchemy import create_engine, make_url, text

    from ats import migrate

    url = make_url(database_url)
    name = f"ats_cand_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(fresh)
    try:
        migrate.upgrade(fresh, "0009")
        with engine.begin() as connection:
            accounts = [uuid.uuid4(), uuid.uuid4()]
            for i, account_id in enumerate(accounts):
                connection.execute(
                    text("INSERT INTO accounts (id, name, created_at, board_slug) VALUES (:id, 'A', now(), :slug)"),
                    {"id": account_id, "slug": f"board-{i}"},
                )
                job_id = uuid.uuid4()
                connection.execute(
                    text(
                        "INSERT INTO job_postings (id, account_id, title, employment_type, status, created_at,"
                        " updated_at) VALUES (:id, :a, 'Job', 'full_time', 'published', now(), now())"
                    ),
                    {"id": job_id, "a": account_id},
                )
                job2 = uuid.uuid4()
                connection.execute(
                    text(
                        "INSERT INTO job_postings (id, account_id, title, employment_type, status, created_at,"
                        " updated_at) VALUES (:id, :a, 'Job 2', 'full_time', 'published', now(), now())"
                    ),
                    {"id": job2, "a": account_id},
                )
                for job, email, age in (
                    (job_id, "Sam@Example.com", 2),
                    (job2, "sam@example.com", 1),
                    (job_id, "kim@example.com", 1),
                ):
                    connection.execute(
                        text(
                            "INSERT INTO applications (id, account_id, job_id, status, status_changed_at, name, email,"
                            " phone, custom_fields, consent_privacy_policy, consent_talent_pool, legal_hold,"
                            " rating_total, rating_count, version, created_at, updated_at)"
                            " VALUES (:id, :a, :j, 'new', now(), :name, :email, '+49 (30) 123', '{}', true, false,"
                            " false, 0, 0, 1, now() - :age * interval '1 day', now())"
                        ),
                        {
                            "id": uuid.uuid4(),
                            "a": account_id,
                            "j": job,
                            "name": email.split("@")[0],
                            "email": email,
                            "age": age,
                        },
                    )
        migrate.upgrade(fresh)
        with engine.connect() as connection:
            people = [
                (r[0], r[1])
                for r in connection.execute(
                    text(
                        "SELECT lower(c.email), count(a.id) FROM candidates c JOIN applications a"
                        " ON a.candidate_id = c.id GROUP BY c.id ORDER BY 1, 2"
                    )
                )
            ]
            phones = connection.scalar(text("SELECT count(*) FROM candidates WHERE phones = ARRAY['+4930123']"))
        command.downgrade(migrate.alembic_config(fresh), "0009")
        return people, int(phones or 0)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_the_migration_makes_one_candidate_per_account_and_email(superuser_url: str) -> None:
    people, phones = await anyio.to_thread.run_sync(_migrate_in_a_fresh_database, superuser_url)
    # Two accounts, each: Sam (two applications, the email's case aside) and Kim.
    assert people == [("kim@example.com", 1), ("kim@example.com", 1), ("sam@example.com", 2), ("sam@example.com", 2)]
    assert phones == 4


async def test_applications_carry_campaign_tags_and_a_referrer(
    client: AsyncTestClient[Litestar], account: Account, other_account: Account
) -> None:
    job = await make_job(account)
    tags = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring-2025"}
    applied = await post_apply(client, apply_body(job["id"], source="careers_site", **tags))
    assert applied.status_code == 201, applied.text
    assert set(assert_jsonapi(applied)["data"]["attributes"]) == {"application_stage_id", "created_at", "email", "name"}
    view = (await client.get(f"/api/v1/applications/{applied.json()['data']['id']}", headers=account.headers)).json()
    assert {k: view["data"][k] for k in tags} == tags and view["data"]["source"] == "careers_site"
    too_long = await post_apply(client, apply_body(job["id"], utm_campaign="x" * 101))
    assert too_long.status_code == 422
    assert [e["source"]["pointer"] for e in too_long.json()["errors"]] == ["/data/attributes/utm_campaign"]

    referrer_id, _ = await account.user("recruiter", name="Rita Referrer")
    body = {"job_id": job["id"], "candidate": {"name": "Bo", "email": f"bo-{uuid.uuid4().hex[:6]}@example.com"}}
    made = await client.post("/api/v1/applications", json={**body, "referrer_id": referrer_id}, headers=account.headers)
    assert made.status_code == 201, made.text
    assert made.json()["data"]["referrer_id"] == referrer_id and made.json()["data"]["utm_source"] is None
    stranger_id, _ = await other_account.user("recruiter")
    refused = await client.post(
        "/api/v1/applications", json={**body, "referrer_id": stranger_id}, headers=account.headers
    )
    assert problem(refused, 422)["errors"][0]["pointer"] == "/referrer_id"


async def test_a_recruiters_source_comes_from_the_accounts_list(
    client: AsyncTestClient[Litestar], account: Account
) -> None:
    job = await make_job(account)
    _, recruiter = await account.user("recruiter")
    assert (await client.get("/api/v1/sources", headers=recruiter)).json()["data"] == []
    problem(await client.put("/api/v1/sources", json={"sources": ["LinkedIn"]}, headers=recruiter), 403)
    listed = await client.put(
        "/api/v1/sources", json={"sources": [" LinkedIn ", "linkedin", "Referral", "Job fair"]}, headers=account.headers
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == ["LinkedIn", "Referral", "Job fair"]
    person = {"name": "Cy", "email": f"cy-{uuid.uuid4().hex[:6]}@example.com"}
    body = {"job_id": job["id"], "candidate": person}
    refused = problem(
        await client.post("/api/v1/applications", json={**body, "source": "Flyer"}, headers=recruiter), 422
    )
    assert refused["errors"][0]["pointer"] == "/source" and refused["allowed"] == ["LinkedIn", "Referral", "Job fair"]
    made = await client.post("/api/v1/applications", json={**body, "source": "Referral"}, headers=recruiter)
    assert made.status_code == 201 and made.json()["data"]["source"] == "Referral"
    stats = (await client.get("/api/v1/stats", headers=account.headers)).json()["data"]
    assert stats["by_source"] == {"Referral": 1}
    problem(await client.put("/api/v1/sources", json={"sources": ["x" * 101]}, headers=account.headers), 422)

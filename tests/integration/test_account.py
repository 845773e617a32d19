"""§14 the account's controller details, and the Art. 15 PDF export (§8) that prints them, on real PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pypdf
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ats.runtime import Runtime
from tests.conftest import Account, problem
from tests.integration.helpers import make_application, make_job, move

CONTROLLER = {
    "name": "Muster Recruiting GmbH",
    "address": "Hauptstraße 1, 10115 Berlin",
    "email": "privacy@muster.example",
    "dpo_email": "dpo@muster.example",
    "supervisory_authority": "Berliner Beauftragte für Datenschutz und Informationsfreiheit",
}


def pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages).replace("\n", " ")


async def test_account_controller_details(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    before = await client.get("/api/v1/account", headers=account.headers)
    assert before.status_code == 200, before.text
    data = before.json()["data"]
    assert data["id"] == str(account.id)
    assert data["controller"] == dict.fromkeys(CONTROLLER)

    changed = await client.patch("/api/v1/account", json={"controller": CONTROLLER}, headers=account.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["controller"] == CONTROLLER
    assert (await client.get("/api/v1/account", headers=account.headers)).json()["data"]["controller"] == CONTROLLER
    # the other account is untouched
    other = (await client.get("/api/v1/account", headers=other_account.headers)).json()["data"]
    assert other["id"] == str(other_account.id) and other["controller"]["name"] is None

    cleared = await client.patch("/api/v1/account", json={"controller": {"dpo_email": None}}, headers=account.headers)
    assert cleared.json()["data"]["controller"] == {**CONTROLLER, "dpo_email": None}

    # audited by field name only: no value (a DPO's address names a person) reaches the audit log
    events = (await client.get("/api/v1/audit-events?action=account.updated", headers=account.headers)).json()["data"]
    columns = ["controller_name", "controller_address", "controller_email", "controller_dpo_email"]
    assert sorted(map(sorted, (e["data"]["fields"] for e in events))) == sorted(
        [sorted([*columns, "supervisory_authority"]), ["controller_dpo_email"]]
    )
    assert "muster.example" not in str(events) and "Berlin" not in str(events)


async def test_account_rules(account: Account, client: AsyncTestClient[Litestar]) -> None:
    _, recruiter = await account.user("recruiter")
    _, compliance = await account.user("compliance")
    for headers in (recruiter, compliance):
        problem(await client.get("/api/v1/account", headers=headers), 403, "forbidden")
        problem(await client.patch("/api/v1/account", json={"name": "x"}, headers=headers), 403, "forbidden")
    for body in (
        {"controller": {"email": "not an email"}},
        {"controller": {"address": "x" * 501}},
        {"controller": {"fax": "1"}},
        {"name": ""},
        {"controller": "Muster"},
    ):
        response = await client.patch("/api/v1/account", json=body, headers=account.headers)
        problem(response, response.status_code)
        assert response.status_code in (400, 422), (body, response.text)
    assert (await client.get("/api/v1/account", headers=account.headers)).json()["data"]["controller"]["name"] is None
    problem(await client.get("/api/v1/account"), 401)


async def test_pdf_export_names_the_controller_and_the_retention_end(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    await client.patch("/api/v1/account", json={"controller": CONTROLLER}, headers=account.headers)
    job = await make_job(account, title="Data Engineer")
    app = await make_application(account, job["id"], name="Zofia Łukasiewicz-Müller", email="zofia@example.com")
    assert (await move(client, account.headers, app["id"], "rejected", reason="not_a_fit")).status_code == 200

    pdf = await client.get(f"/api/v1/applications/{app['id']}/export?format=pdf", headers=account.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    ends = datetime.now(UTC) + timedelta(days=runtime.settings.retention_days)
    for expected in (
        "Zofia Łukasiewicz-Müller",
        *CONTROLLER.values(),
        "Data Engineer",
        f"ends on {ends:%-d %B %Y}",
        "source recorded: referral",
    ):
        assert expected in text, expected
    assert str(account.id) not in text

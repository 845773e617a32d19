"""§8: custom_fields and answers are bounded on every write path, and whatever is accepted every export carries."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pypdf
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ats.custom_fields import MAX_DEPTH, MAX_KEYS, MAX_STRING
from tests.conftest import Account, problem
from tests.integration.helpers import make_job
from tests.integration.test_public_apply import apply_body, pointers, post_apply

SCRIPTS = ("Łukasiewicz ", "王", "Ж")  # Latin with diacritics, CJK, Cyrillic


def nested(levels: int, leaf: Any) -> dict[str, Any]:
    """``levels`` nested objects, custom_fields itself being the first; keys ``l1`` … ``lN``."""
    value: Any = leaf
    for level in range(levels, 0, -1):
        value = {f"l{level}": value}
    assert isinstance(value, dict)
    return value


def at_the_bounds(tag: str) -> dict[str, Any]:
    """custom_fields exactly at every bound at once: depth 8, an object of 100 keys, 10 000-character strings."""
    fields = nested(MAX_DEPTH, f"deepest {tag}")
    wide = {f"k{i:03d}": f"v{i} {tag}" for i in range(MAX_KEYS)}
    fields["wide"] = wide  # the custom_fields object keeps fewer keys; "wide" holds exactly MAX_KEYS
    for index, script in enumerate(SCRIPTS):
        fields[f"long_{index}"] = (script * MAX_STRING)[: MAX_STRING - len(tag) - 1] + f" {tag}"
        assert len(fields[f"long_{index}"]) == MAX_STRING
    fields["question"] = "Ж王Ł"  # an answer to the posting's question
    return fields


async def create(client: AsyncTestClient[Litestar], account: Account, job_id: str, custom: dict[str, Any]) -> Any:
    body = {
        "job_id": job_id,
        "candidate": {"name": "Jan Łukasiewicz", "email": "jan@example.com"},
        "custom_fields": custom,
    }
    return await client.post("/api/v1/applications", json=body, headers=account.headers)


async def assert_exports_carry(
    client: AsyncTestClient[Litestar], account: Account, application_id: str, custom: dict[str, Any], tag: str
) -> None:
    url = f"/api/v1/applications/{application_id}/export"
    as_json = await client.get(f"{url}?format=json", headers=account.headers)
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["application"]["custom_fields"] == custom
    pdf = await client.get(f"{url}?format=pdf", headers=account.headers)
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF-") and pdf.content.rstrip().endswith(b"%%EOF")
    # The report prints every member, the deepest and the hundredth too (whitespace aside: lines wrap). Glyphs of
    # other scripts depend on the report's fonts (§8), so the text compared here is the ASCII part of the data.
    text = "".join(pdf_text(pdf.content).split())
    assert f'"l8":"deepest{tag}"' in text and f'"k099":"v{MAX_KEYS - 1}{tag}"' in text
    assert all(f"long_{index}:" in text for index in range(len(SCRIPTS)))
    archive = await client.get(f"{url}?format=zip", headers=account.headers)
    assert archive.status_code == 200, archive.text
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert z.testzip() is None
        assert json.loads(z.read("data.json"))["application"]["custom_fields"] == custom
        assert z.read("report.pdf").startswith(b"%PDF-")


async def test_recruiter_created_application_at_the_bounds_exports_in_every_format(
    account: Account, client: AsyncTestClient[Litestar]
) -> None:
    job = await make_job(account)
    custom = at_the_bounds("recruiter")
    created = await create(client, account, job["id"], custom)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["custom_fields"] == custom
    await assert_exports_carry(client, account, created.json()["data"]["id"], custom, "recruiter")


async def test_public_apply_at_the_bounds_exports_in_every_format(
    account: Account, client: AsyncTestClient[Litestar]
) -> None:
    question = {"key": "question", "label": "Which scripts?", "type": "text", "required": True}
    job = await make_job(account, application_questions=[question])
    custom = at_the_bounds("public")
    applied = await post_apply(client, apply_body(job["id"], custom_fields=custom))
    assert applied.status_code == 201, applied.text
    await assert_exports_carry(client, account, applied.json()["data"]["id"], custom, "public")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def past_each_bound() -> list[tuple[dict[str, Any], str]]:
    """(custom_fields one past a bound, the pointer below custom_fields that names the offending member)."""
    deep = "/" + "/".join(f"l{level}" for level in range(1, MAX_DEPTH + 1))  # the ninth object
    return [
        (nested(MAX_DEPTH + 1, "x"), deep),
        ({"wide": {f"k{i}": 1 for i in range(MAX_KEYS + 1)}}, "/wide"),
        ({"list": ["fine", "Ж" * (MAX_STRING + 1)]}, "/list/1"),
        ({"王" * (MAX_STRING + 1): "key too long"}, "/" + "王" * (MAX_STRING + 1)),
        ({"a/b": {"c~d": "Ł" * (MAX_STRING + 1)}}, "/a~1b/c~0d"),
        (nested(500, "the export-breaking case"), deep),
    ]


async def test_one_past_each_bound_is_refused_on_every_path(
    account: Account, client: AsyncTestClient[Litestar]
) -> None:
    job = await make_job(account)
    for custom, member in past_each_bound():
        body = problem(await create(client, account, job["id"], custom), 422, "validation_failed")
        assert [e["pointer"] for e in body["errors"]] == [f"/custom_fields{member}"]
        refused = await post_apply(client, apply_body(job["id"], custom_fields=custom))
        assert pointers(refused) == {f"/data/attributes/custom_fields{member}"}
    listed = (await client.get(f"/api/v1/applications?job_id={job['id']}", headers=account.headers)).json()
    assert listed["meta"]["total"] == 0  # nothing was created by any refused request

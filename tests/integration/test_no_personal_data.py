"""§8/§9/§1: after an erasure nothing the applicant or their recruiters typed about them is left anywhere.

A unique marker goes into every field of every request of two applications' lives (one applied publicly, one
added by a recruiter); both are erased; the marker is then looked for in every text or JSON column of every table
(the audit log included), in every version of every object in the bucket, and in every log record the ``ats``
loggers wrote meanwhile (the request log included).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from botocore.exceptions import ClientError
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from ats.db import Base
from ats.runtime import Runtime
from tests.conftest import Account
from tests.integration.helpers import make_job, move
from tests.integration.test_public_apply import complete, post_apply, upload
from tests.samples import PDF


def with_comment(marker: str) -> bytes:
    """The sample PDF with the marker in a comment inside it (data after %%EOF is refused)."""
    body, end = PDF.rsplit(b"%%EOF", 1)
    return body + f"% {marker}\n".encode() + b"%%EOF" + end


class Recorder(logging.Handler):
    """Keeps every record, whole: message, arguments and structured fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {vars(r)!r}" for r in self.records)


async def database_hits(runtime: Runtime, marker: str) -> list[str]:
    """``table.column`` of every column of every table whose text holds ``marker`` (any case)."""
    async with runtime.transaction() as session:
        columns = list(
            await session.execute(
                text(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                    " JOIN information_schema.tables USING (table_catalog, table_schema, table_name)"
                    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
                )
            )
        )
        tables = {row.table_name for row in columns}
        assert {t.name for t in Base.metadata.sorted_tables} <= tables  # none hidden from the search
        hits = []
        for schema, table, column in columns:
            found = await session.scalar(
                text(f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}"::text ILIKE :pattern'),
                {"pattern": f"%{marker}%"},
            )
            if found:
                hits.append(f"{table}.{column}")
    return hits


def object_versions(runtime: Runtime) -> Iterator[dict[str, Any]]:
    """Every version of every object in the bucket (plain keys where the store keeps no versions)."""
    s3, bucket = runtime.documents.client, runtime.settings.s3_bucket
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                yield {"Key": version["Key"], "VersionId": version.get("VersionId")}
            for marker in page.get("DeleteMarkers", []):
                yield {"Key": marker["Key"], "VersionId": None}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotImplemented":
            raise
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                yield {"Key": item["Key"], "VersionId": None}


def storage_hits(runtime: Runtime, marker: str) -> list[str]:
    """Keys of the object versions whose key, metadata or bytes hold ``marker`` (any case)."""
    s3, bucket = runtime.documents.client, runtime.settings.s3_bucket
    needle = marker.lower().encode()
    hits = []
    for version in object_versions(runtime):
        key = version["Key"]
        if needle in key.lower().encode():
            hits.append(key)
            continue
        extra = {"VersionId": version["VersionId"]} if version["VersionId"] not in (None, "null") else {}
        try:
            got = s3.get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "MethodNotAllowed"):
                continue  # a delete marker, or deleted since listed
            raise
        headers = json.dumps({k: v for k, v in got.items() if k != "Body"}, default=str).lower().encode()
        tail = b""
        for chunk in got["Body"].iter_chunks(1024 * 1024):
            window = tail + chunk.lower()
            if needle in window:
                break
            tail = window[-len(needle) :]
        else:
            if needle not in headers:
                continue
        hits.append(key)
    return hits


async def applicant_life(
    client: AsyncTestClient[Litestar], account: Account, marker: str
) -> tuple[list[str], list[httpx.Response]]:
    """Everything an application goes through, the marker in every value a person types; the two application ids."""
    h = account.headers
    question = {"key": "motivation", "label": "Why us?", "type": "text", "required": True}
    job = await make_job(account, application_questions=[question])
    body = {
        "data": {
            "type": "applicant",
            "attributes": {
                "name": f"Ada {marker}",
                "email": f"{marker}@example.com",
                "phone": f"+49 {marker}",
                "job_posting_id": job["id"],
                "cover_letter": f"Dear team, {marker}",
                "source": f"src {marker}",
                "custom_fields": {
                    "motivation": f"answer {marker}",
                    f"key {marker}": {"nested": [f"deep {marker}"]},
                },
                "documents": [{"extension": "pdf", "name": f"CV {marker}", "type": "cv"}],
                "consent": {
                    "privacy_policy": True,
                    "privacy_policy_version": f"v {marker}",
                    "talent_pool": True,
                },
            },
        }
    }
    public = await post_apply(client, body, **{"Idempotency-Key": f"idem-{marker}"})
    assert public.status_code == 201, public.text
    retried = await post_apply(client, body, **{"Idempotency-Key": f"idem-{marker}"})
    assert retried.status_code == 201 and retried.json()["data"]["id"] == public.json()["data"]["id"]
    # refused requests carry the marker too: what they log must not
    assert (await post_apply(client, body)).status_code == 422  # the same email again
    body["data"]["attributes"]["custom_fields"] = {f"k {marker}": f"{marker}" * 2000}
    assert (await post_apply(client, body)).status_code == 422
    document = public.json()["included"][0]
    meta = document["meta"]["upload"]
    stored = await upload(meta, with_comment(marker))
    assert stored.status_code in (200, 201, 204), stored.text
    done = await complete(client, document["id"], meta["upload_token"])
    assert done.status_code == 200, done.text

    added = await client.post(
        "/api/v1/applications",
        json={
            "job_id": job["id"],
            "candidate": {
                "name": f"Bob {marker}",
                "email": f"bob.{marker}@example.com",
                "salutation": f"Dr {marker}",
                "first_name": f"Bob {marker}",
                "last_name": f"Builder {marker}",
                "phone": f"+44 {marker}",
                "address": {
                    "street": f"{marker} Street 1",
                    "postal_code": marker,
                    "city": f"City {marker}",
                    "country": f"Land {marker}",
                },
            },
            "source": f"fair {marker}",
            "cover_letter": f"Hello {marker}",
            "custom_fields": {"motivation": f"answer {marker}", "list": [f"item {marker}"]},
        },
        headers=h,
    )
    assert added.status_code == 201, added.text
    ids = [public.json()["data"]["id"], added.json()["data"]["id"]]
    responses: list[httpx.Response] = []
    for app_id in ids:
        base = f"/api/v1/applications/{app_id}"
        for internal in (True, False):
            note = await client.post(
                f"{base}/notes", json={"content": f"note {marker}", "internal": internal}, headers=h
            )
            assert note.status_code == 201, note.text
        edited = await client.patch(
            f"{base}/notes/{note.json()['data']['id']}", json={"content": f"edited {marker}"}, headers=h
        )
        assert edited.status_code == 200, edited.text
        rated = await client.put(f"{base}/rating", json={"rating": 4, "criteria": {f"grit {marker}": 5}}, headers=h)
        assert rated.status_code == 200, rated.text
        for status in ("screening", "rejected"):
            moved = await move(client, h, app_id, status, note=f"why {marker}", reason=f"because {marker}")
            assert moved.status_code == 200, moved.text
        uploaded = await client.post(
            f"{base}/documents",
            files={"file": (f"{marker} letter.pdf", with_comment(marker))},
            data={"type": "cover_letter"},
            headers=h,
        )
        assert uploaded.status_code == 201, uploaded.text
        for view in (base, f"/api/v1/applicants/{app_id}", f"/api/v1/applications?search={marker}"):
            responses.append(await client.get(view, headers=h))
        for fmt in ("json", "pdf", "zip"):
            exported = await client.get(f"{base}/export?format={fmt}&include_internal=true", headers=h)
            assert exported.status_code == 200, exported.text
        for doc in responses[-3].json()["data"]["documents"]:
            assert (await client.get(doc["url"], headers=h)).status_code == 200
    # what the API answered does carry the applicant's data: the marker is where the test looks
    assert all(marker in r.text for r in responses), [r.text[:200] for r in responses if marker not in r.text]
    return ids, responses


async def test_nothing_personal_is_left_after_erasure(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    marker = f"zq{uuid.uuid4().hex[:12]}"  # postal codes take 20 characters at most
    recorder = Recorder()
    ats_logger = logging.getLogger("ats")
    level = ats_logger.level
    ats_logger.addHandler(recorder)
    ats_logger.setLevel(logging.DEBUG)
    try:
        ids, _ = await applicant_life(client, account, marker)
        # before: the marker is stored, so the searches below can fail
        before = await database_hits(runtime, marker)
        assert {"applications.name", "notes.content", "status_history.reason", "documents.filename"} <= set(before)
        assert storage_hits(runtime, marker)
        refused = await client.delete(
            f"/api/v1/applications/{ids[0]}",
            params={"reason": f"asked by {marker}@example.com"},
            headers=account.headers,
        )
        assert refused.status_code == 422 and marker not in refused.text
        for app_id in ids:
            erased = await client.delete(
                f"/api/v1/applications/{app_id}?reason=candidate_request", headers=account.headers
            )
            assert erased.status_code == 200, erased.text
            assert erased.json()["data"]["storage"] == "erased"
        audit = await client.get("/api/v1/audit-events?per_page=100", headers=account.headers)
        assert audit.status_code == 200 and audit.json()["meta"]["total"] > 10
        assert marker not in audit.text.lower()
    finally:
        ats_logger.removeHandler(recorder)
        ats_logger.setLevel(level)

    assert await database_hits(runtime, marker) == []
    assert storage_hits(runtime, marker) == []
    requests = [r for r in recorder.records if r.name == "ats.request"]
    assert len(requests) >= 30  # the request log was captured: one line per request
    assert marker not in recorder.text().lower()

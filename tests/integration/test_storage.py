"""The document store against a real S3 (embedded SeaweedFS): uploads, reads, deletes, outages."""

from __future__ import annotations

import functools
import hashlib
import io
import random
import socket
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ats.storage import (
    CHUNK,
    Documents,
    ObjectMissing,
    StorageUnavailable,
    check_signature,
    make_client,
)

from ats.runtime import Runtime

MiB = 1024 * 1024


@pytest.fixture
def documents(runtime: Runtime) -> Documents:
    return runtime.documents


@pytest.fixture
def prefix(documents: Documents) -> Iterator[str]:
    prefix = f"test/{uuid.uuid4()}/"
    yield prefix
    documents.delete_prefix(prefix)


def _put(documents: Documents, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    documents.client.put_object(Bucket=documents.bucket, Key=key, Body=data, ContentType=content_type)


@contextmanager
def calls_to(documents: Documents, operation: str) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every ``operation`` the client sends meanwhile (a botocore event hook)."""
    seen: list[dict[str, Any]] = []
    event = f"before-parameter-build.s3.{operation}"
    unique_id = f"test-{uuid.uuid4()}"

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    documents.client.meta.events.register(event, record, unique_id=unique_id)
    try:
        yield seen
    finally:
        documents.client.meta.events.unregister(event, unique_id=unique_id)


class Generated(io.RawIOBase):
    """A non-seekable stream of ``size`` deterministic bytes, produced as it is read."""

    def __init__(self, size: int, seed: int = 1) -> None:
        self.remaining = size
        self.random = random.Random(seed)
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.remaining)
        self.largest_read = max(self.largest_read, n)
        buffer[:n] = self.random.randbytes(n)
        self.remaining -= n
        return n


def test_presigned_post_is_limited_by_the_store(documents: Documents, prefix: str) -> None:
    key = prefix + "resume"
    post = documents.presign_post(key, max_bytes=1000, content_type="application/pdf", expires_in=300)
    assert post.fields["key"] == key
    assert post.fields["Content-Type"] == "application/pdf"
    assert datetime.now(UTC) + timedelta(seconds=290) < post.expires_at <= datetime.now(UTC) + timedelta(seconds=300)

    too_big = httpx.post(
        post.url, data=post.fields, files={"file": ("cv.pdf", b"%PDF-" + b"x" * 1000, "application/pdf")}
    )
    assert too_big.status_code == 400, too_big.text  # SeaweedFS: EntityTooLarge
    assert "EntityTooLarge" in too_big.text
    assert not documents.exists(key)

    elsewhere = dict(post.fields, key=prefix + "other")
    refused = httpx.post(post.url, data=elsewhere, files={"file": ("cv.pdf", b"%PDF-1.7", "application/pdf")})
    assert refused.status_code == 403, refused.text
    assert not documents.exists(prefix + "other")

    body = b"%PDF-" + b"x" * 995
    accepted = httpx.post(post.url, data=post.fields, files={"file": ("cv.pdf", body, "application/pdf")})
    assert accepted.status_code in (200, 201, 204), accepted.text
    assert documents.exists(key)
    assert documents.head(key) == 1000
    assert b"".join(documents.iter_chunks(key)) == body
    stored = documents.client.head_object(Bucket=documents.bucket, Key=key)
    assert stored["ContentType"] == "application/pdf"


def test_put_stream_and_iter_chunks_round_trip(documents: Documents, prefix: str) -> None:
    data = random.Random(5).randbytes(5 * MiB + 123)
    key = prefix + "five"
    assert documents.put_stream(key, io.BytesIO(data), content_type="application/pdf") == len(data)
    chunks = list(documents.iter_chunks(key))
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [CHUNK] * 5 + [123]
    assert documents.client.head_object(Bucket=documents.bucket, Key=key)["ContentType"] == "application/pdf"

    bigger = list(documents.iter_chunks(key, chunk_size=2 * MiB))
    assert [len(c) for c in bigger] == [2 * MiB, 2 * MiB, MiB + 123]


def test_put_stream_uploads_a_large_unseekable_stream_in_parts(documents: Documents, prefix: str) -> None:
    size = 20 * MiB + 7
    source = Generated(size)
    key = prefix + "large"
    with calls_to(documents, "UploadPart") as parts:
        assert documents.put_stream(key, source, content_type="application/octet-stream") == size
    assert len(parts) == 3  # 8 + 8 + 4 MiB
    assert source.largest_read <= 8 * MiB  # read part by part, never the whole stream at once
    expected = hashlib.sha256(Generated(size).read()).hexdigest()
    digest = hashlib.sha256()
    sizes = []
    for chunk in documents.iter_chunks(key):
        sizes.append(len(chunk))
        digest.update(chunk)
    assert digest.hexdigest() == expected
    assert sizes == [CHUNK] * 20 + [7]


class TooLarge(Exception):
    pass


class Limited(Generated):
    """Like Generated, but gives up (as a size limit would) once ``limit`` bytes have been read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(size)
        self.left = limit

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self.left -= n
        if self.left < 0:
            raise TooLarge
        return n


@pytest.mark.parametrize("limit", [1 * MiB, 12 * MiB])
def test_put_stream_lets_a_reader_error_through_and_stores_nothing(
    documents: Documents, prefix: str, limit: int
) -> None:
    key = prefix + "refused"
    with pytest.raises(TooLarge):
        documents.put_stream(key, Limited(30 * MiB, limit), content_type="application/pdf")
    assert not documents.exists(key)
    pending = documents.client.list_multipart_uploads(Bucket=documents.bucket, Prefix=prefix)
    assert not pending.get("Uploads"), pending.get("Uploads")


def test_iter_chunks_early_exit_and_missing(documents: Documents, prefix: str) -> None:
    key = prefix + "three"
    _put(documents, key, b"a" * (3 * MiB))
    chunks = documents.iter_chunks(key)
    assert next(chunks) == b"a" * MiB
    chunks.close()  # closes the response body; the connection goes back to the pool
    assert documents.read_head(key, 4) == b"aaaa"

    missing = documents.iter_chunks(prefix + "nothing")
    with pytest.raises(ObjectMissing):
        next(missing)


def test_read_head_and_read_range(documents: Documents, prefix: str) -> None:
    data = bytes(range(256)) * 64
    key = prefix + "bytes"
    _put(documents, key, data)
    assert documents.read_head(key) == data[:8192]
    assert documents.read_head(key, 16) == data[:16]
    assert documents.read_range(key, 100, 110) == data[100:110]
    assert documents.read_range(key, len(data) - 5, len(data) + 100) == data[-5:]
    assert documents.read_range(key, len(data), len(data) + 10) == b""
    assert documents.read_range(key, 7, 7) == b""

    _put(documents, prefix + "short", b"%PDF")
    assert documents.read_head(prefix + "short") == b"%PDF"
    _put(documents, prefix + "empty", b"")
    assert documents.read_head(prefix + "empty") == b""

    with pytest.raises(ObjectMissing):
        documents.read_head(prefix + "nothing")
    with pytest.raises(ValueError):
        documents.read_range(key, 10, 5)


def test_exists_and_delete(documents: Documents, prefix: str) -> None:
    key = prefix + "doc"
    assert not documents.exists(key)
    _put(documents, key, b"x")
    assert documents.exists(key)
    documents.delete(key)
    assert not documents.exists(key)
    documents.delete(key)  # already gone: fine
    with pytest.raises(ObjectMissing):
        documents.head(key)


def test_delete_prefix_deletes_in_batches(documents: Documents, prefix: str) -> None:
    count = 1050
    keys = [f"{prefix}app/{i:04}" for i in range(count)]
    neighbour = f"{prefix}other/keep"
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda key: _put(documents, key, b"x"), [*keys, neighbour]))

    with calls_to(documents, "DeleteObjects") as deletes:
        assert documents.delete_prefix(prefix + "app/") == count
    batches = sorted(len(call["Delete"]["Objects"]) for call in deletes)
    assert sum(batches) == count and max(batches) <= 1000 and len(batches) >= 2, batches
    listed = documents.client.list_objects_v2(Bucket=documents.bucket, Prefix=prefix + "app/")
    assert listed.get("KeyCount", 0) == 0
    assert documents.exists(neighbour)
    assert documents.delete_prefix(prefix + "app/") == 0

    with pytest.raises(ValueError):
        documents.delete_prefix("")


def test_delete_prefix_removes_every_version_and_delete_marker(documents: Documents) -> None:
    client = documents.client
    versioned = Documents(client, f"ats-test-versions-{uuid.uuid4().hex[:12]}")
    versioned.ensure_bucket()
    client.put_bucket_versioning(Bucket=versioned.bucket, VersioningConfiguration={"Status": "Enabled"})
    try:
        for i in range(3):
            client.put_object(Bucket=versioned.bucket, Key="acct/app/doc", Body=b"v%d" % i)
        client.put_object(Bucket=versioned.bucket, Key="acct/app/other", Body=b"o")
        versioned.delete("acct/app/doc")  # leaves a delete marker over three versions
        client.put_object(Bucket=versioned.bucket, Key="acct/keep", Body=b"k")

        assert versioned.delete_prefix("acct/app/") == 5  # 3 versions + 1 marker + 1 object

        left = client.list_object_versions(Bucket=versioned.bucket, Prefix="acct/app/")
        assert not left.get("Versions") and not left.get("DeleteMarkers")
        assert versioned.exists("acct/keep")
    finally:
        versioned.delete_prefix("acct/")
        client.delete_bucket(Bucket=versioned.bucket)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_docx_check_reads_only_ranges_of_a_stored_object(documents: Documents, prefix: str) -> None:
    noise = random.Random(9).randbytes(3 * MiB)
    docx = _zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "word/media/image1.png": noise,
            "word/document.xml": b"<w:document/>",
        }
    )
    plain = _zip({"notes.txt": b"hello", "media/image1.png": noise})
    for name, data in (("docx", docx), ("plain", plain)):
        _put(documents, prefix + name, data)

    fetched: list[int] = []

    def read_range(key: str, start: int, end: int) -> bytes:
        data = documents.read_range(key, start, end)
        fetched.append(len(data))
        return data

    key = prefix + "docx"
    verdict = check_signature(
        "docx",
        documents.read_head(key),
        read_range=functools.partial(read_range, key),
        size=documents.head(key),
    )
    assert verdict.ok, verdict.reason
    assert verdict.mime_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert 0 < sum(fetched) <= 128 * 1024

    key = prefix + "plain"
    verdict = check_signature(
        "docx",
        documents.read_head(key),
        read_range=functools.partial(read_range, key),
        size=documents.head(key),
    )
    assert not verdict.ok
    assert verdict.reason is not None and "not a Word (.docx) document" in verdict.reason


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_storage_unavailable_when_nothing_listens(runtime: Runtime) -> None:
    settings = runtime.settings
    client = make_client(
        f"http://127.0.0.1:{_closed_port()}",
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_region,
        timeout=1,
    )
    down = Documents(client, settings.s3_bucket)
    key = "test/unreachable/doc"
    calls = {
        "ping": down.ping,
        "head": lambda: down.head(key),
        "exists": lambda: down.exists(key),
        "read_head": lambda: down.read_head(key),
        "read_range": lambda: down.read_range(key, 10, 20),
        "iter_chunks": lambda: next(down.iter_chunks(key)),
        "put_stream": lambda: down.put_stream(key, io.BytesIO(b"x" * 10), content_type="application/pdf"),
        "delete": lambda: down.delete(key),
        "delete_prefix": lambda: down.delete_prefix("test/unreachable/"),
    }
    not_raised = []
    for name, call in calls.items():
        try:
            call()
        except StorageUnavailable:
            continue
        not_raised.append(name)
    assert not not_raised

    # Presigning is local work: it needs no connection.
    post = down.presign_post(key, max_bytes=10, content_type="application/pdf", expires_in=60)
    assert post.fields["key"] == key


def test_copy_is_a_snapshot_of_the_source(documents: Documents, prefix: str) -> None:
    _put(documents, prefix + "staged", b"first")
    documents.copy(prefix + "staged", prefix + "final")
    _put(documents, prefix + "staged", b"other")
    assert documents.read_head(prefix + "final") == b"first"
    with pytest.raises(ObjectMissing):
        documents.copy(prefix + "nothing", prefix + "final2")
    assert not documents.exists(prefix + "final2")


def test_hostile_files_are_rejected_through_ranged_reads(documents: Documents, prefix: str) -> None:
    noise = random.Random(5).randbytes(MiB)
    pdf = b"%PDF-1.7\n%" + noise.hex().encode()[:200_000] + b"\ntrailer\n<< >>\n%%EOF\n"
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    bomb = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"0" * (20 * MiB)})
    cases = [("pdf", pdf, True), ("pdf", pdf + docx, False), ("docx", docx, True), ("docx", bomb, False)]
    for i, (extension, data, ok) in enumerate(cases):
        key = f"{prefix}{i}"
        _put(documents, key, data)
        verdict = check_signature(
            extension,
            documents.read_head(key),
            read_range=functools.partial(documents.read_range, key),
            size=documents.head(key),
        )
        assert verdict.ok is ok, (i, verdict.reason)

"""Documents in one bucket, behind a small class. Every method is blocking: call it off the event loop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

CHUNK = 1024 * 1024
DELETE_BATCH = 1000
PART_SIZE = 8 * 1024 * 1024
# Bounded memory per upload: at most max_concurrency parts of PART_SIZE are held at once.
TRANSFER = TransferConfig(
    multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4, use_threads=True
)
# A prefix is emptied in passes (list, delete); a pass that deletes nothing ends it.
_MAX_DELETE_PASSES = 5
# Per-key answers of a batch delete that mean "already deleted".
_ALREADY_GONE = frozenset({"NoSuchKey", "NoSuchVersion"})


class StorageUnavailable(Exception):
    """S3 could not be reached or answered with a server error."""


class ObjectMissing(Exception):
    """The object does not exist."""


@dataclass(frozen=True)
class PresignedPost:
    """A browser-ready upload form: POST ``fields`` plus a ``file`` part to ``url`` before ``expires_at``."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_missing(exc: ClientError) -> bool:
    return _code(exc) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


def _is_invalid_range(exc: ClientError) -> bool:
    return _code(exc) == "InvalidRange" or _status(exc) == 416


def _is_not_implemented(exc: ClientError) -> bool:
    return _code(exc) in {"NotImplemented", "501"} or _status(exc) == 501


@contextmanager
def _storage_errors(key: str | None = None) -> Iterator[None]:
    """Missing object → ObjectMissing (when a key is given); any other S3 failure → StorageUnavailable."""
    try:
        yield
    except ClientError as exc:
        if key is not None and _is_missing(exc):
            raise ObjectMissing(key) from exc
        raise StorageUnavailable(f"{type(exc).__name__}: {_code(exc) or _status(exc)}") from exc
    except (BotoCoreError, Boto3Error) as exc:
        raise StorageUnavailable(type(exc).__name__) from exc


#: What browsers may send to the bucket: the presigned POST form, and reads of what they may read.
CORS_METHODS = ["POST", "GET", "HEAD"]
CORS_MAX_AGE = 600


@dataclass
class Documents:
    client: S3Client
    bucket: str
    #: Signs presigned URLs only: built on the endpoint browsers reach, when it is not the server's own.
    presigner: S3Client | None = None
    _last_ok: float = field(default=0.0, init=False, repr=False, compare=False)

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _is_missing(exc) and "NoSuchBucket" not in str(exc):
                raise StorageUnavailable(str(exc)) from exc
            self.client.create_bucket(Bucket=self.bucket)
        except BotoCoreError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def put_cors(self, origins: list[str]) -> None:
        """The bucket's CORS rule: ``origins`` may POST presigned forms and read the answer; none removes it."""
        with _storage_errors():
            if not origins:
                self.client.delete_bucket_cors(Bucket=self.bucket)
                return
            self.client.put_bucket_cors(
                Bucket=self.bucket,
                CORSConfiguration={
                    "CORSRules": [
                        {
                            "AllowedOrigins": sorted(origins),
                            "AllowedMethods": CORS_METHODS,
                            "AllowedHeaders": ["*"],
                            "ExposeHeaders": ["ETag", "Location"],
                            "MaxAgeSeconds": CORS_MAX_AGE,
                        }
                    ]
                },
            )

    def cors_origins(self) -> list[str]:
        """The origins of the bucket's CORS rules (none when it has no rule)."""
        with _storage_errors():
            try:
                rules = self.client.get_bucket_cors(Bucket=self.bucket).get("CORSRules", [])
            except ClientError as exc:
                if _code(exc) == "NoSuchCORSConfiguration":
                    return []
                raise
        return sorted({origin for rule in rules for origin in rule.get("AllowedOrigins", [])})

    def answered_within(self, max_age: float) -> bool:
        """Whether the bucket answered a ping less than ``max_age`` seconds ago (no I/O)."""
        return time.monotonic() - self._last_ok < max_age

    def ping(self, *, max_age: float = 0.0) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers (or answered within ``max_age`` s)."""
        if max_age and time.monotonic() - self._last_ok < max_age:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        self._last_ok = time.monotonic()

    def head(self, key: str) -> int:
        """The stored object's size in bytes."""
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectMissing(key) from exc
            raise StorageUnavailable(type(exc).__name__) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            self.head(key)
        except ObjectMissing:
            return False
        return True

    def presign_post(self, key: str, *, max_bytes: int, content_type: str, expires_in: int) -> PresignedPost:
        """A presigned POST for exactly ``key``; the store itself refuses bodies over ``max_bytes``.

        Signing is local CPU work (no request is made); do it once per document.
        """
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        # Rounded down so the advertised expiry is never later than the signed one.
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)
        with _storage_errors():
            post = (self.presigner or self.client).generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                # boto3 adds the bucket and the exact key to the policy itself.
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", 1, max_bytes],
                ],
                ExpiresIn=expires_in,
            )
        return PresignedPost(
            url=str(post["url"]),
            fields={str(name): str(value) for name, value in post["fields"].items()},
            expires_at=expires_at,
        )

    def put_stream(self, key: str, fileobj: IO[bytes], *, content_type: str) -> int:
        """Upload from a file-like object in parts (never all in memory); the number of bytes stored.

        Errors raised by ``fileobj.read`` (a client that went away, a size limit) propagate unchanged.
        """
        with _storage_errors():
            self.client.upload_fileobj(
                fileobj, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=TRANSFER
            )
        return self.head(key)

    def copy(self, source: str, target: str) -> None:
        """Copy ``source`` to ``target`` inside the bucket, server-side (no bytes pass through here).

        Objects are at most the upload limit, far below S3's 5 GiB single-copy bound. A missing
        ``source`` raises ``ObjectMissing``.
        """
        with _storage_errors(source):
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source})

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` up to, not including, ``end`` (slice semantics; short or empty past the end)."""
        if start < 0 or end < start:
            raise ValueError(f"bad range {start}..{end}")
        if start == end:
            return b""
        with _storage_errors(key):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
            except ClientError as exc:
                if _is_invalid_range(exc):
                    return b""  # the range starts at or past the end of the object
                raise
            body = response["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        # A store that ignores Range answers 200 with everything: keep only what was asked for.
        if "ContentRange" not in response and len(data) > end - start:
            data = data[start:end]
        return data

    def read_head(self, key: str, n: int = 8192) -> bytes:
        """The first ``n`` bytes (fewer if the object is shorter)."""
        return self.read_range(key, 0, n)

    def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes in chunks of ``chunk_size`` (the last one may be shorter).

        The GET is made on the first ``next()``, so ``ObjectMissing`` is raised there. The response
        body is closed when the iteration ends, fails, or the generator is closed or dropped early.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        return self._chunks(key, chunk_size)

    def _chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        body: Any = None
        try:
            with _storage_errors(key):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            while True:
                with _storage_errors(key):
                    chunk = body.read(chunk_size)
                    # Fill the chunk up: a read may return less than asked before the end.
                    while chunk and len(chunk) < chunk_size:
                        more = body.read(chunk_size - len(chunk))
                        if not more:
                            break
                        chunk += more
                if not chunk:
                    return
                yield chunk
                if len(chunk) < chunk_size:
                    return
        finally:
            if body is not None:
                body.close()

    def delete(self, key: str) -> None:
        """Delete one object; a missing object is not an error."""
        try:
            with _storage_errors(key):
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except ObjectMissing:
            return

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object, object version and delete marker under ``prefix``; how many were deleted.

        Deletes go in batches of at most 1000 keys. Any failure raises ``StorageUnavailable``
        (what was deleted stays deleted), so a caller can simply retry.
        """
        if not prefix:
            raise ValueError("refusing to delete the whole bucket: prefix is empty")
        total = 0
        for _ in range(_MAX_DELETE_PASSES):
            deleted = self._delete_pass(prefix)
            total += deleted
            if deleted == 0:
                return total
        raise StorageUnavailable(f"objects keep appearing under {prefix!r}")

    def _delete_pass(self, prefix: str) -> int:
        deleted = 0
        for batch in self._listed(prefix):
            deleted += self._delete_batch(batch)
        return deleted

    def _listed(self, prefix: str) -> Iterator[list[ObjectIdentifierTypeDef]]:
        """Object identifiers under ``prefix`` in batches of at most DELETE_BATCH, versions included."""
        with _storage_errors():
            versions = self._listed_versions(prefix)
            try:
                first = next(versions, None)
            except ClientError as exc:
                # SeaweedFS may answer NotImplemented on an unversioned bucket: list plain keys then.
                if not _is_not_implemented(exc):
                    raise
            else:
                if first is not None:
                    yield first
                    yield from versions
                return
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH}
            )
            for page in pages:
                keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    yield keys

    def _listed_versions(self, prefix: str) -> Iterator[list[ObjectIdentifierTypeDef]]:
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH}
        )
        batch: list[ObjectIdentifierTypeDef] = []
        for page in pages:
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                ident: ObjectIdentifierTypeDef = {"Key": item["Key"]}
                if item.get("VersionId"):
                    ident["VersionId"] = item["VersionId"]
                batch.append(ident)
                if len(batch) == DELETE_BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _delete_batch(self, batch: list[ObjectIdentifierTypeDef]) -> int:
        assert len(batch) <= DELETE_BATCH
        with _storage_errors():
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
        errors = response.get("Errors", [])
        failed = [error for error in errors if error.get("Code") not in _ALREADY_GONE]
        if failed:
            raise StorageUnavailable(f"{len(failed)} of {len(batch)} deletes failed: {failed[0].get('Code')}")
        return len(batch) - len(errors)  # the rest were already gone

"""Documents in one bucket, behind a small class. Every method is blocking: call it off the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1024 * 1024
DELETE_BATCH = 1000


class StorageUnavailable(Exception):
    """S3 could not be reached or answered with a server error."""


class ObjectMissing(Exception):
    """The object does not exist."""


def _is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


@dataclass
class Documents:
    client: S3Client
    bucket: str

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _is_missing(exc) and "NoSuchBucket" not in str(exc):
                raise StorageUnavailable(str(exc)) from exc
            self.client.create_bucket(Bucket=self.bucket)
        except BotoCoreError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

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

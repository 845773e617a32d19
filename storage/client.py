"""The S3 client: one boto3 client per process, short timeouts so an outage is seen quickly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def make_client(
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str,
    timeout: int = 5,
) -> S3Client:
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=timeout,
        read_timeout=max(timeout, 30),
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=32,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if access_key_id:
        kwargs["aws_access_key_id"] = access_key_id
        kwargs["aws_secret_access_key"] = secret_access_key
    client: S3Client = boto3.client("s3", **kwargs)
    return client

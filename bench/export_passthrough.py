"""A bare pass-through for ``bench gdpr``: raw ASGI streaming S3 objects to the client, no ZIP, no framework.

``GET /stream?prefix=P`` sends every object under ``P`` (sorted by key) as one chunked body, read in
``BENCH_CHUNK``-byte chunks with boto3 (default 1 MiB; ``bench gdpr`` passes the API's
``api.gdpr.ZIP_CHUNK``), one worker-thread hop per chunk (as the API's export does). It is the ceiling
for any server here: the bytes cross one more HTTP hop than the in-process boto3 baseline, on the
same CPUs as SeaweedFS and the client. Serve it with ``uvicorn bench.export_passthrough:app`` and the
``ATS_S3_*`` variables.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import boto3
from botocore.config import Config

CHUNK = int(os.environ.get("BENCH_CHUNK", str(1024 * 1024)))


class Passthrough:
    def __init__(self) -> None:
        self.s3: Any = None
        self.bucket = os.environ.get("ATS_S3_BUCKET", "ats-documents")
        self.threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="s3")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.s3 = boto3.client(
                        "s3",
                        region_name=os.environ.get("ATS_S3_REGION", "us-east-1"),
                        endpoint_url=os.environ["ATS_S3_ENDPOINT_URL"],
                        aws_access_key_id=os.environ["ATS_S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["ATS_S3_SECRET_ACCESS_KEY"],
                        config=Config(
                            signature_version="s3v4",
                            s3={"addressing_style": "path"},
                            read_timeout=30,
                            request_checksum_calculation="when_required",
                            response_checksum_validation="when_required",
                        ),
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.threads.shutdown(wait=False)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health/live":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        prefix = parse_qs(scope["query_string"].decode()).get("prefix", [""])[0]
        loop = asyncio.get_running_loop()
        chunks = await loop.run_in_executor(self.threads, self.open, prefix)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]}
        )
        while chunk := await loop.run_in_executor(self.threads, next, chunks, b""):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def open(self, prefix: str) -> Iterator[bytes]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        return self.chunks(sorted(item["Key"] for item in listed))

    def chunks(self, keys: list[str]) -> Iterator[bytes]:
        for key in keys:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                while chunk := body.read(CHUNK):
                    yield chunk
            finally:
                body.close()


app = Passthrough()

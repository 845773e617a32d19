"""A real HTTP receiver for webhook tests: a stdlib server on loopback, in a thread of its own."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """Records every POST; answers ``status`` (or ``answer(received so far for this id)``) after ``delay`` seconds."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Received] = []
        self.status = 200
        self.delay = 0.0
        self.answer: Callable[[str, int], int] | None = None  # (webhook-id, earlier tries of it) -> status
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    with receiver._lock:
                        earlier = sum(
                            1 for r in receiver.requests if r.headers.get("webhook-id") == headers.get("webhook-id")
                        )
                        status = (
                            receiver.answer(headers.get("webhook-id", ""), earlier)
                            if receiver.answer
                            else receiver.status
                        )
                        receiver.requests.append(Received(headers, body, status, time.monotonic()))
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ok(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float = 30.0) -> None:
    """Wait until ``check()`` is true (polling); fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)

"""PostgreSQL crashed and S3 stopped under load, then one sweep: the scenario ``python -m bench faults`` runs and
``tests/integration/test_fault_under_load.py`` asserts.

A world of its own: a fresh ``ATS_DATA_DIR`` whose embedded PostgreSQL and S3 are started, restarted and stopped
with ``ats services start|stop`` (the operator's commands), and the real app served by ``ats run`` (uvicorn) in a
subprocess. Concurrent clients do the real flows over HTTP: public applies with two documents (presigned POST to
S3, then ``complete``; some abandoned, some with hostile bytes, some followed by a swap attempt on the form),
recruiters listing, reading, noting, moving, downloading (the bytes must be the checked ones), uploading and
erasing. Meanwhile the postmaster is SIGKILLed (a real crash) and started again, later S3 is killed and started
again. Every answer is recorded: 2xx, 4xx in its family's shape, 503 in its family's shape, or a fault (a 500, any
other 5xx, a malformed error, no answer). Recovery is the time from a service's restart until the first full apply
(201, both documents uploaded and completed). Then the clock is moved past every TTL and form expiry (the rows' own
timestamps moved back), one ``ats documents sweep`` runs, and the store and the rows are compared: documents
``uploaded`` without their object, objects without an ``uploaded`` row, and work the sweep owns still left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from ats.storage.embedded import EmbeddedS3, free_port

from ats.embedded import EmbeddedPostgres

JSONAPI = "application/vnd.api+json"
PROBLEM = "application/problem+json"
JSONAPI_HEADERS = {"Content-Type": JSONAPI, "Accept": JSONAPI}
ADMIN_EMAIL = "admin@faults.example"
PASSWORD = "faults correct horse battery"

# The bytes the flows upload: a minimal PDF and DOCX that pass the checks, and hostile ones that must not.
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _docx() -> bytes:
    import io
    import zipfile

    types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    document = b'<?xml version="1.0"?><w:document xmlns:w="urn:w"><w:body><w:p/></w:body></w:document>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


DOCX = _docx()
EXE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 112)[: len(PDF)]
GOOD = {hashlib.sha256(PDF).hexdigest(), hashlib.sha256(DOCX).hexdigest()}


@dataclass
class Schedule:
    """Seconds: load before the crash, PostgreSQL down, steady load between, S3 down, load after S3's recovery."""

    warmup: float = 3.0
    pg_down: float = 2.0
    between: float = 2.0
    s3_down: float = 3.0
    tail: float = 2.0
    appliers: int = 6
    recruiters: int = 3
    workers: int = 1  # ATS_WORKERS of the one ``ats run``
    recovery_bound: float = 45.0  # a service not serving a full apply this long after its restart is a failure


@dataclass
class Fault:
    """One answer outside the contract: a 500, another 5xx, an error body in the wrong shape, or no answer."""

    flow: str
    method: str
    path: str
    status: int | None
    detail: str


@dataclass
class Outcome:
    """What the run saw and what the sweep left."""

    requests: int = 0
    by_class: Counter[str] = field(default_factory=Counter)  # "2xx", "4xx", "503", "500", "5xx", "other", "none"
    by_code: Counter[tuple[str, int, str]] = field(default_factory=Counter)  # (flow, status, code) of errors
    faults: list[Fault] = field(default_factory=list)
    details: dict[tuple[str, int, str], str] = field(default_factory=dict)  # one error detail per (flow, status, code)
    s3_direct: Counter[str] = field(default_factory=Counter)  # the browser's own uploads to S3
    wrong_bytes: int = 0  # downloads whose bytes were not a checked document's
    flows: Counter[str] = field(default_factory=Counter)  # completed flows by kind
    timeline: list[tuple[float, str]] = field(default_factory=list)
    pg_restart_s: float | None = None  # how long ``ats services start`` took to bring PostgreSQL back
    pg_ready_s: float | None = None  # from PostgreSQL back to the first /health/ready 200
    pg_recovery_s: float | None = None  # from PostgreSQL back to the first full apply
    s3_restart_s: float | None = None
    s3_ready_s: float | None = None
    s3_recovery_s: float | None = None
    server_log_statuses: Counter[int] = field(default_factory=Counter)
    server_log_errors: list[str] = field(default_factory=list)  # "unhandled error" lines of the app's log
    sweep: dict[str, Any] = field(default_factory=dict)
    rows_without_objects: list[str] = field(default_factory=list)
    objects_without_rows: list[str] = field(default_factory=list)
    pending: dict[str, int] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)  # each object left after the sweep, and its document's fate
    documents: Counter[str] = field(default_factory=Counter)  # rows by upload_status after the sweep
    objects: int = 0
    wall_s: float = 0.0

    @property
    def pending_total(self) -> int:
        return sum(self.pending.values())

    def lines(self) -> list[tuple[str, str]]:
        """The figures, as (name, value) lines."""

        def seconds(value: float | None) -> str:
            return "not reached" if value is None else f"{value:.1f} s"

        classes = ", ".join(
            f"{k} {self.by_class.get(k, 0)}" for k in ("2xx", "4xx", "503", "500", "5xx", "other", "none")
        )
        codes = ", ".join(f"{flow} {status} {code} x{n}" for (flow, status, code), n in sorted(self.by_code.items()))
        return [
            ("requests to the API", f"{self.requests}: {classes}"),
            ("error answers (flow status code)", codes or "none"),
            ("faults (500, other 5xx, bad shape, no answer)", str(len(self.faults))),
            ("flows completed", ", ".join(f"{k} {v}" for k, v in sorted(self.flows.items()))),
            ("browser uploads to S3", ", ".join(f"{k} {v}" for k, v in sorted(self.s3_direct.items()))),
            ("downloads with bytes not checked", str(self.wrong_bytes)),
            (
                "PostgreSQL (SIGKILL)",
                f"restart {seconds(self.pg_restart_s)}; then ready {seconds(self.pg_ready_s)}, "
                f"first full apply {seconds(self.pg_recovery_s)}",
            ),
            (
                "S3 (SIGKILL)",
                f"restart {seconds(self.s3_restart_s)}; then ready {seconds(self.s3_ready_s)}, "
                f"first full apply {seconds(self.s3_recovery_s)}",
            ),
            ("server log: statuses", ", ".join(f"{k} {v}" for k, v in sorted(self.server_log_statuses.items()))),
            ("server log: unhandled errors", str(len(self.server_log_errors))),
            ("sweep", json.dumps(self.sweep, sort_keys=True)),
            ("documents after the sweep", ", ".join(f"{k} {v}" for k, v in sorted(self.documents.items()))),
            ("objects in the bucket", str(self.objects)),
            ("rows without objects", str(len(self.rows_without_objects))),
            ("objects without rows", str(len(self.objects_without_rows))),
            ("pending work", f"{self.pending_total} ({', '.join(f'{k} {v}' for k, v in self.pending.items())})"),
            ("wall time", f"{self.wall_s:.0f} s"),
        ]


JsonApiCheck = Callable[[httpx.Response], None]


def _family(path: str) -> str:
    return "jsonapi" if path.startswith(("/public/", "/api/v1/applicants")) else "problem"


def error_shape(response: httpx.Response, path: str) -> str | None:
    """What is wrong with an error answer's shape for its family (§1), or None; the error's code is checked too."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    try:
        body = response.json()
    except ValueError:
        return f"not JSON ({media})"
    if _family(path) == "jsonapi":
        if media != JSONAPI:
            return f"media type {media}"
        errors = body.get("errors") if isinstance(body, dict) else None
        if not errors or not all(isinstance(e, dict) for e in errors):
            return "no errors array"
        if any(e.get("status") != str(response.status_code) or not e.get("code") or not e.get("title") for e in errors):
            return "an error without its status, code or title"
        return None
    if media != PROBLEM:
        return f"media type {media}"
    if not isinstance(body, dict) or body.get("status") != response.status_code:
        return "status member differs"
    if not {"type", "title", "detail", "code"} <= body.keys():
        return "members missing"
    return None


def _error_code(response: httpx.Response, path: str) -> str:
    try:
        body = response.json()
        if _family(path) == "jsonapi":
            return str(body["errors"][0].get("code", "?"))
        return str(body.get("code", "?"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "?"


class Recorder:
    """Sends every API request of the load and classifies its answer."""

    def __init__(self, client: httpx.AsyncClient, outcome: Outcome, jsonapi_check: JsonApiCheck | None) -> None:
        self.client = client
        self.outcome = outcome
        self.jsonapi_check = jsonapi_check

    async def request(self, flow: str, method: str, url: str, template: str, **kwargs: Any) -> httpx.Response | None:
        """The answer, or None when there was none (a fault: the app must answer every request)."""
        out = self.outcome
        out.requests += 1
        try:
            response = await self.client.request(method, url, **kwargs)
            await response.aread()
        except httpx.TransportError as exc:
            out.by_class["none"] += 1
            out.faults.append(Fault(flow, method, template, None, type(exc).__name__))
            return None
        status = response.status_code
        if 200 <= status < 300:
            out.by_class["2xx"] += 1
            return response
        if status < 400:  # nothing here redirects: a 1xx/3xx final answer is outside the contract too
            out.by_class["other"] += 1
            out.faults.append(Fault(flow, method, template, status, response.text[:300]))
            return response
        path = url.split("?", 1)[0]
        shape = error_shape(response, path)
        if shape is None and self.jsonapi_check is not None and _family(path) == "jsonapi":
            try:
                self.jsonapi_check(response)
            except AssertionError as exc:
                shape = f"JSON:API schema: {str(exc)[:200]}"
        kind = "4xx" if status < 500 else "503" if status == 503 else "500" if status == 500 else "5xx"
        out.by_class[kind] += 1
        key = (flow, status, _error_code(response, path))
        out.by_code[key] += 1
        out.details.setdefault(key, response.text[:300])
        if kind in ("500", "5xx") or shape is not None:
            out.faults.append(Fault(flow, method, template, status, shape or response.text[:300]))
        return response


@dataclass
class World:
    """The run's data dir, its services and its server."""

    root: Path
    env: dict[str, str]
    port: int
    server: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.root)

    @property
    def s3(self) -> EmbeddedS3:
        return EmbeddedS3(self.root)

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ats.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def services_start(self, bound: float = 90) -> tuple[float, list[str]]:
        """``ats services start`` until it succeeds (a crashed postmaster's backends may still be exiting):
        the seconds it took and the failures on the way."""
        started = time.monotonic()
        failures: list[str] = []
        while True:
            done = self.cli("services", "start")
            if done.returncode == 0:
                return time.monotonic() - started, failures
            failures.append(done.stderr.strip()[-300:])
            if time.monotonic() - started > bound:
                raise RuntimeError(f"ats services start failed: {failures[-1]}")
            time.sleep(0.5)

    def kill_postgres(self) -> None:
        """SIGKILL the postmaster: a crash, no shutdown checkpoint, its backends orphaned."""
        pid = self.postgres.running_pid()
        assert pid is not None, "PostgreSQL is not running"
        os.kill(pid, signal.SIGKILL)

    def kill_s3(self) -> None:
        pid = self.s3.signal_stop(kill=True)
        assert pid is not None, "S3 is not running"
        self.s3.wait_stopped(pid)

    def serve(self) -> None:
        with self.server_log.open("wb") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "ats.cli", "run"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.pid, signal.SIGTERM)
        try:
            self.server.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(10)

    def dsn(self, owner: bool = False) -> str:
        url = self.postgres.owner_url if owner else self.postgres.app_url
        return "postgresql://" + url.split("://", 1)[1]


@contextlib.contextmanager
def world(schedule: Schedule, keep: bool = False) -> Iterator[World]:
    """A fresh data dir with its embedded services (``ats services start``) and ``ats run`` serving on it.

    Everything is stopped at the end (``ats services stop``), and the data removed unless ``keep``.
    """
    root = Path(tempfile.mkdtemp(prefix="ats-faultload-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATS_")}
    env.update(
        ATS_DATA_DIR=str(root),
        # Durable PostgreSQL: the fast mode's synchronous_commit=off loses commits acknowledged just before a
        # crash (the 201 of an apply whose rows then never were), which would be the test's doing, not the app's.
        ATS_EMBEDDED_FAST="false",
        ATS_DEMO_ACCOUNT="false",
        ATS_HOST="127.0.0.1",
        ATS_PORT=str(port),
        ATS_WORKERS=str(schedule.workers),
        ATS_PUBLIC_RATE_LIMIT="1000000",
        ATS_LOG_FORMAT="json",
        ATS_LOG_LEVEL="info",
    )
    here = World(root, env, port)
    pg_home = here.postgres.home
    try:
        here.services_start()
        here.serve()
        yield here
    finally:
        here.stop_server()
        with contextlib.suppress(Exception):  # throwaway data: no need to wait ~15 s for SeaweedFS to stop
            here.kill_s3()
        here.cli("services", "stop")
        with contextlib.suppress(Exception):  # a PostgreSQL left half-up by a failed run: stop it outright
            pid = here.postgres.running_pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        if keep:
            print(f"(data kept in {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)
            if pg_home != root:
                shutil.rmtree(pg_home, ignore_errors=True)


# ---- the load ----


@dataclass
class State:
    """What the clients share: the posting, the recruiters' tokens, and the moments the faults happened."""

    job_id: str
    admin: dict[str, str]
    recruiters: list[dict[str, str]]
    started: float
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    full_applies: list[tuple[float, float]] = field(default_factory=list)  # (began, done) monotonic
    ready_at: list[float] = field(default_factory=list)  # monotonic times /health/ready said 200

    def mark(self, outcome: Outcome, what: str) -> float:
        now = time.monotonic()
        outcome.timeline.append((now - self.started, what))
        return now


def _apply_body(job_id: str) -> dict[str, Any]:
    return {
        "data": {
            "type": "applicant",
            "attributes": {
                "name": "Jane Applicant",
                "email": f"jane-{uuid.uuid4().hex[:12]}@example.com",
                "job_posting_id": job_id,
                "documents": [
                    {"extension": "pdf", "name": "Resume", "type": "cv"},
                    {"extension": "docx", "name": "Cover letter", "type": "cover_letter"},
                ],
                "consent": {"privacy_policy": True, "privacy_policy_version": "2025-01", "talent_pool": False},
            },
        }
    }


async def _browser_upload(browser: httpx.AsyncClient, outcome: Outcome, meta: dict[str, Any], content: bytes) -> bool:
    """The applicant's browser posts the file to S3 itself; S3 down is S3's answer, not the app's."""
    try:
        response = await browser.post(meta["url"], data=meta["fields"], files={"file": ("upload", content)})
    except httpx.TransportError:
        outcome.s3_direct["no answer"] += 1
        return False
    ok = response.status_code in (200, 201, 204)
    outcome.s3_direct["2xx" if ok else str(response.status_code)] += 1
    return ok


async def _upload_and_complete(
    api: Recorder, browser: httpx.AsyncClient, state: State, document: dict[str, Any], content: bytes
) -> str:
    """Upload, then complete, retrying as a patient client would; ``uploaded``, ``rejected`` or ``gave up``."""
    meta = document["meta"]["upload"]
    body = {
        "data": {
            "type": "applicant_document",
            "id": document["id"],
            "attributes": {"upload_token": meta["upload_token"]},
        }
    }
    url = f"/public/v1/applicant_documents/{document['id']}/complete"
    for _ in range(6):
        if state.stop.is_set():
            return "gave up"
        if not await _browser_upload(browser, api.outcome, meta, content):
            await asyncio.sleep(0.5)
            continue
        done = await api.request(
            "complete", "POST", url, "/public/v1/applicant_documents/{id}/complete", json=body, headers=JSONAPI_HEADERS
        )
        if done is None:
            return "gave up"
        if done.status_code == 200:
            return "uploaded"
        if done.status_code == 422 and _error_code(done, url) == "upload_rejected":
            return "rejected"
        if done.status_code == 409:  # completed meanwhile (a response lost on the way): read it as done
            return "uploaded"
        await asyncio.sleep(0.5)  # 503, or 422 not_uploaded (a previous attempt consumed the staged copy)
    return "gave up"


async def applier(api: Recorder, browser: httpx.AsyncClient, state: State, seed: int) -> None:
    """Public applies with two documents: most complete, every 7th abandons, one in 7 sends an EXE as its PDF,
    one in 7 posts other bytes to the form after ``complete`` (a swap attempt)."""
    out = api.outcome
    for n in range(1_000_000):
        if state.stop.is_set():
            return
        began = time.monotonic()
        applied = await api.request(
            "apply",
            "POST",
            "/public/v1/applicants?include=applicant_documents",
            "/public/v1/applicants",
            json=_apply_body(state.job_id),
            headers=JSONAPI_HEADERS,
        )
        if applied is None or applied.status_code != 201:
            await asyncio.sleep(0.3)
            continue
        pdf, docx = applied.json()["included"]
        variant = (n + seed) % 7
        if variant == 3:
            out.flows["apply abandoned"] += 1
            continue
        first = await _upload_and_complete(api, browser, state, pdf, EXE if variant == 5 else PDF)
        second = await _upload_and_complete(api, browser, state, docx, DOCX)
        if first == second == "uploaded":
            state.full_applies.append((began, time.monotonic()))
            out.flows["apply full"] += 1
            if variant == 6:
                swapped = await _browser_upload(browser, out, pdf["meta"]["upload"], EXE)
                out.flows["swap attempt" if swapped else "swap attempt (S3 down)"] += 1
        else:
            out.flows[f"apply pdf {first}, docx {second}"] += 1


async def recruiter(api: Recorder, state: State, headers: dict[str, str], seed: int) -> None:
    """List, read, note, move, download every uploaded document (its bytes must be a checked file's); every 5th
    round also add an application, upload a PDF to it and erase it."""
    out = api.outcome
    rng = random.Random(seed)
    flow_after = {"new": "screening", "screening": "interview", "interview": "offer", "offer": "hired"}
    for n in range(1_000_000):
        if state.stop.is_set():
            return
        listed = await api.request(
            "list",
            "GET",
            f"/api/v1/applications?job_id={state.job_id}&per_page=50",
            "/api/v1/applications",
            headers=headers,
        )
        if listed is None or listed.status_code != 200 or not listed.json()["data"]:
            await asyncio.sleep(0.3)
            continue
        application = rng.choice(listed.json()["data"])
        app_url = f"/api/v1/applications/{application['id']}"
        got = await api.request("read", "GET", app_url, "/api/v1/applications/{id}", headers=headers)
        if got is not None and got.status_code == 200:
            application = got.json()["data"]
        await api.request(
            "note",
            "POST",
            f"{app_url}/notes",
            "/api/v1/applications/{id}/notes",
            json={"content": f"round {n}", "internal": True},
            headers=headers,
        )
        target = flow_after.get(application["status"])
        if target is not None:
            await api.request(
                "move",
                "PUT",
                f"{app_url}/status",
                "/api/v1/applications/{id}/status",
                json={"status": target},
                headers=headers,
            )
        for document in application["documents"]:
            if document["upload_status"] != "uploaded":
                continue
            got = await api.request(
                "download", "GET", document["url"], "/api/v1/applications/{id}/documents/{id}", headers=headers
            )
            if got is not None and got.status_code == 200:
                out.flows["download"] += 1
                if hashlib.sha256(got.content).hexdigest() not in GOOD:
                    out.wrong_bytes += 1
        if n % 5 == 4:
            await _add_upload_erase(api, state, headers)
        await asyncio.sleep(0.05)


async def _add_upload_erase(api: Recorder, state: State, headers: dict[str, str]) -> None:
    out = api.outcome
    person = {"name": "Ada Lovelace", "email": f"ada-{uuid.uuid4().hex[:12]}@example.com"}
    created = await api.request(
        "add",
        "POST",
        "/api/v1/applications",
        "/api/v1/applications",
        json={"job_id": state.job_id, "candidate": person, "source": "referral"},
        headers=headers,
    )
    if created is None or created.status_code != 201:
        return
    app_url = f"/api/v1/applications/{created.json()['data']['id']}"
    await api.request(
        "recruiter upload",
        "POST",
        f"{app_url}/documents",
        "/api/v1/applications/{id}/documents",
        files={"file": ("cv.pdf", PDF)},
        data={"type": "cv"},
        headers=headers,
    )
    for _ in range(10):  # erased for sure in the end: a 503 is retried
        erased = await api.request(
            "erase", "DELETE", f"{app_url}?reason=candidate_request", "/api/v1/applications/{id}", headers=state.admin
        )
        if erased is not None and erased.status_code in (200, 404):
            out.flows[f"erase ({erased.json()['data']['storage']})" if erased.status_code == 200 else "erase 404"] += 1
            return
        await asyncio.sleep(0.5)


async def readiness(api: Recorder, state: State) -> None:
    while not state.stop.is_set():
        ready = await api.request("ready", "GET", "/health/ready", "/health/ready")
        if ready is not None and ready.status_code == 200:
            state.ready_at.append(time.monotonic())
        await asyncio.sleep(0.25)


# ---- the run ----


async def _wait_ready(client: httpx.AsyncClient, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/health/ready")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app was not ready within {within:.0f} s")
        await asyncio.sleep(0.3)


async def _setup(
    here: World, client: httpx.AsyncClient, recruiters: int
) -> tuple[str, dict[str, str], list[dict[str, str]]]:
    """An account (through the services), a published posting and ``recruiters`` recruiters (through the API)."""
    from ats.embedded import ensure_services
    from ats.runtime import Runtime
    from ats.services import accounts
    from ats.settings import load_settings

    settings, _ = ensure_services(load_settings(here.env))  # both run already: nothing is started
    runtime = Runtime.create(settings)
    try:
        async with runtime.transaction() as session:
            await accounts.create_account(session, "Faults", admin_email=ADMIN_EMAIL, admin_password=PASSWORD)
    finally:
        await runtime.engine.dispose()

    async def login(email: str) -> dict[str, str]:
        token = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    admin = await login(ADMIN_EMAIL)
    job = await client.post("/api/v1/jobs", json={"title": "Engineer", "status": "published"}, headers=admin)
    job.raise_for_status()
    tokens = []
    for i in range(recruiters):
        email = f"recruiter{i}@faults.example"
        user = await client.post(
            "/api/v1/users",
            json={"email": email, "name": f"Recruiter {i}", "role": "recruiter", "password": PASSWORD},
            headers=admin,
        )
        user.raise_for_status()
        tokens.append(await login(email))
    return job.json()["data"]["id"], admin, tokens


async def _recovered(state: State, outcome: Outcome, back: float, bound: float) -> tuple[float | None, float | None]:
    """Seconds from ``back`` to the first readiness 200 and to the first full apply begun after it."""
    deadline = back + bound
    ready = applied = None
    while time.monotonic() < deadline and (ready is None or applied is None):
        if ready is None:
            ready = next((t - back for t in state.ready_at if t >= back), None)
        if applied is None:
            applied = next((done - back for began, done in state.full_applies if began >= back), None)
        await asyncio.sleep(0.1)
    return ready, applied


async def _faults(here: World, state: State, outcome: Outcome, schedule: Schedule) -> None:
    """The faults, in turn, each followed by waiting for recovery (bounded)."""
    await asyncio.sleep(schedule.warmup)
    state.mark(outcome, "SIGKILL the postmaster")
    await asyncio.to_thread(here.kill_postgres)
    await asyncio.sleep(schedule.pg_down)
    state.mark(outcome, "ats services start (PostgreSQL)")
    outcome.pg_restart_s, failures = await asyncio.to_thread(here.services_start)
    for failure in failures:
        state.mark(outcome, f"ats services start failed: {failure}")
    back = state.mark(outcome, "PostgreSQL back")
    outcome.pg_ready_s, outcome.pg_recovery_s = await _recovered(state, outcome, back, schedule.recovery_bound)
    state.mark(outcome, "recovered from PostgreSQL's crash" if outcome.pg_recovery_s is not None else "NOT recovered")
    await asyncio.sleep(schedule.between)
    state.mark(outcome, "SIGKILL S3")
    await asyncio.to_thread(here.kill_s3)
    await asyncio.sleep(schedule.s3_down)
    state.mark(outcome, "ats services start (S3)")
    outcome.s3_restart_s, failures = await asyncio.to_thread(here.services_start)
    for failure in failures:
        state.mark(outcome, f"ats services start failed: {failure}")
    back = state.mark(outcome, "S3 back")
    outcome.s3_ready_s, outcome.s3_recovery_s = await _recovered(state, outcome, back, schedule.recovery_bound)
    state.mark(outcome, "recovered from S3's stop" if outcome.s3_recovery_s is not None else "NOT recovered")
    await asyncio.sleep(schedule.tail)


async def run_load(here: World, schedule: Schedule, outcome: Outcome, jsonapi_check: JsonApiCheck | None) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=here.base, timeout=60, limits=limits) as client,
        httpx.AsyncClient(timeout=30, limits=limits) as browser,
    ):
        await _wait_ready(client, 120)
        job_id, admin, tokens = await _setup(here, client, schedule.recruiters)
        state = State(job_id, admin, tokens, time.monotonic())
        api = Recorder(client, outcome, jsonapi_check)
        clients = [applier(api, browser, state, i) for i in range(schedule.appliers)]
        clients += [recruiter(api, state, tokens[i], i) for i in range(schedule.recruiters)]
        clients.append(readiness(api, state))
        tasks = [asyncio.create_task(c) for c in clients]
        try:
            await _faults(here, state, outcome, schedule)
        finally:
            state.mark(outcome, "load stops")
            state.stop.set()
            await asyncio.wait(tasks, timeout=60)
            for task in tasks:
                task.cancel()
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]


# ---- after: the sweep and the books ----

# The clock moved past every TTL and every form's expiry, for the rows the sweep reads: an upload still
# ``uploading`` is abandoned, a finished document's form can no longer write, a pending erasure is due
# and past its final pass.
SHIFT = "interval '2 days'"
TIME_TRAVEL = [
    f"UPDATE documents SET created_at = created_at - {SHIFT}, staged_until = staged_until - {SHIFT}",
    f"UPDATE pending_deletions SET created_at = created_at - {SHIFT}, next_attempt_at = next_attempt_at - {SHIFT}",
]


def settle(here: World, outcome: Outcome) -> None:
    """Time moved on, one ``ats documents sweep``, then rows and objects compared."""
    with psycopg.connect(here.dsn(owner=True), autocommit=True) as conn:
        for statement in TIME_TRAVEL:
            conn.execute(statement.encode())
    done = here.cli("documents", "sweep")
    if done.returncode != 0:
        raise RuntimeError(f"ats documents sweep failed: {done.stderr.strip()[-500:]}")
    outcome.sweep = json.loads(done.stdout.strip().splitlines()[-1])

    from ats.storage import make_client

    from ats.settings import load_settings

    s3 = here.s3
    settings = load_settings(here.env)
    client = make_client(s3.endpoint_url, s3.access_key_id, s3.secret_access_key, settings.s3_region, 10)
    bucket = settings.s3_bucket
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(str(item["Key"]) for item in page.get("Contents", []))
    with psycopg.connect(here.dsn(owner=True), autocommit=True) as conn:
        rows = conn.execute("SELECT storage_key, upload_status, staged_until, id FROM documents").fetchall()
        pending_deletions = int(conn.execute("SELECT count(*) FROM pending_deletions").fetchone()[0])  # type: ignore[index]
    served = {str(key) for key, status, _, _ in rows if status == "uploaded"}
    status_of = {str(doc): str(status) for _, status, _, doc in rows}
    outcome.documents = Counter(str(status) for _, status, _, _ in rows)
    outcome.objects = len(keys)
    outcome.rows_without_objects = sorted(served - keys)
    outcome.objects_without_rows = sorted(k for k in keys - served if "/staging/" not in k)
    staging = sorted(k for k in keys if "/staging/" in k)
    for key in [*outcome.objects_without_rows, *staging]:  # whose document they were, and what became of it
        doc = key.rsplit("/", 1)[1].split(".", 1)[0]
        outcome.leftovers.append(f"{key} (document {status_of.get(doc, 'gone')})")
    outcome.pending = {
        "uploading rows": outcome.documents.get("uploading", 0),
        "staging objects": len(staging),
        "forms not yet swept": sum(1 for _, _, until, _ in rows if until is not None),
        "pending erasures": pending_deletions,
    }


def read_server_log(here: World, outcome: Outcome) -> None:
    """The app's own account: every request line's status, and every unhandled error it logged."""
    for line in here.server_log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "ats.request" and isinstance(record.get("status"), int):
            outcome.server_log_statuses[record["status"]] += 1
        if record.get("level") in ("error", "critical"):
            outcome.server_log_errors.append(str(record.get("message", ""))[:300])


async def scenario(schedule: Schedule, *, keep: bool = False, jsonapi_check: JsonApiCheck | None = None) -> Outcome:
    """The whole run: world, load with the faults, sweep, books; the services stopped and the data removed."""
    outcome = Outcome()
    started = time.monotonic()
    with world(schedule, keep) as here:
        try:
            await run_load(here, schedule, outcome, jsonapi_check)
            here.stop_server()
            await asyncio.to_thread(settle, here, outcome)
        finally:
            here.stop_server()
            read_server_log(here, outcome)
    outcome.wall_s = time.monotonic() - started
    return outcome

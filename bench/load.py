"""The load generator, run in its own process: N closed-loop keep-alive workers for a duration.

``python -m bench.load URL [--method POST --body B --tag T] [--header 'Name: value'] -c 16 -d 15 -w 3``
prints one JSON object: completed 2xx responses per second over the measured window (after the
warm-up), other statuses, errors, latency percentiles and every completed response (warm-up
included, for CPU per request). In a ``--body``, each ``EMAILSLOT`` becomes ``{tag}.{worker}.{n}``,
so every request of a run is new (a new email per apply). ``--body2``: requests alternate between the
two bodies (a move there and back); ``--worker-slot a,b,…``: ``WORKERSLOT`` in the URL is each worker's own
value (its own application).

The default client is a minimal HTTP/1.1 client on asyncio streams (uvloop when installed): on a
2-core machine the generator shares the CPU with the server and PostgreSQL, and this one costs
several times less per request than a full client, so it disturbs the measurement less.
``--client httpx`` uses ``httpx.AsyncClient`` instead (for a cross-check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SLOT = b"EMAILSLOT"
WORKER_SLOT = "WORKERSLOT"


@dataclass
class Tally:
    measure_from: float
    measure_to: float
    ok: int = 0
    other: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    body_bytes: int = 0
    total: int = 0  # every completed response, warm-up included (for CPU per request)

    def record(self, started: float, status: int, size: int) -> None:
        done = time.perf_counter()
        self.total += 1
        if not self.measure_from <= done <= self.measure_to:
            return
        if 200 <= status < 300:
            self.ok += 1
            self.latencies.append(done - started)
            self.body_bytes += size
        else:
            self.other[status] = self.other.get(status, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        size = 0
        while True:
            chunk_size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(chunk_size + 2)
            size += chunk_size
            if chunk_size == 0:
                return status, size
    await reader.readexactly(length)
    return status, length


Bodies = Callable[[int], bytes | None]  # request number → body (None: no body)


async def _raw_worker(url: str, method: str, headers: dict[str, str], bodies: Bodies, stop: float, t: Tally) -> None:
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    head = "\r\n".join(lines).encode()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    n = 0
    try:
        while time.perf_counter() < stop:
            n += 1
            body = bodies(n)
            length = b"" if body is None else b"\r\nContent-Length: %d" % len(body)
            request = head + length + b"\r\n\r\n" + (body or b"")
            started = time.perf_counter()
            try:
                writer.write(request)
                status, size = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                t.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                continue
            t.record(started, status, size)
    finally:
        writer.close()


async def _httpx_worker(
    client: object, url: str, method: str, headers: dict[str, str], bodies: Bodies, stop: float, t: Tally
) -> None:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    n = 0
    while time.perf_counter() < stop:
        n += 1
        started = time.perf_counter()
        try:
            response = await client.request(method, url, headers=headers, content=bodies(n))
        except httpx.HTTPError:
            t.errors += 1
            continue
        t.record(started, response.status_code, len(response.content))


async def run(args: argparse.Namespace, headers: dict[str, str]) -> dict[str, object]:
    template = args.body.encode() if args.body is not None else None
    second = args.body2.encode() if args.body2 is not None else None
    slots = args.worker_slot.split(",") if args.worker_slot else []

    def bodies_for(worker: int) -> Bodies:
        if template is None:
            return lambda _n: None
        if second is not None:  # alternating: odd requests the first body, even ones the second
            return lambda n: template if n % 2 else second
        return lambda n: template.replace(SLOT, f"{args.tag}.{worker}.{n}".encode())

    def url_for(worker: int) -> str:
        return args.url.replace(WORKER_SLOT, slots[worker % len(slots)]) if slots else args.url

    start = time.perf_counter()
    tally = Tally(start + args.warmup, start + args.warmup + args.duration)
    stop = tally.measure_to
    if args.client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            await asyncio.gather(
                *(
                    _httpx_worker(http, url_for(i), args.method, headers, bodies_for(i), stop, tally)
                    for i in range(args.concurrency)
                )
            )
    else:
        workers = range(args.concurrency)
        await asyncio.gather(
            *(_raw_worker(url_for(i), args.method, headers, bodies_for(i), stop, tally) for i in workers)
        )
    lat = sorted(tally.latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

    return {
        "url": args.url,
        "client": args.client,
        "concurrency": args.concurrency,
        "duration": args.duration,
        "ok": tally.ok,
        "total": tally.total,
        "rps": round(tally.ok / args.duration, 1),
        "other": tally.other,
        "errors": tally.errors,
        "mean_bytes": round(tally.body_bytes / tally.ok) if tally.ok else 0,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None, help="request body; EMAILSLOT is made unique per request")
    parser.add_argument("--tag", default="load", help="makes every EMAILSLOT of this run unique")
    parser.add_argument("--body2", default=None, help="a second body: requests alternate between --body and this")
    parser.add_argument(
        "--worker-slot", default=None, help="comma-separated values: WORKERSLOT in the URL is worker i's i-th value"
    )
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=15.0)
    parser.add_argument("-w", "--warmup", type=float, default=3.0)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    args = parser.parse_args(argv)
    headers = {k.strip(): v.strip() for k, v in (h.split(":", 1) for h in args.header)}
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args, headers))
    else:
        result = uvloop.run(run(args, headers))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

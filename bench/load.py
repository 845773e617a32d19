"""A small closed-loop HTTP load generator, run in its own process: N keep-alive workers for a duration.

``python -m bench.load URL --header 'Authorization: Bearer …' -c 16 -d 15 -w 3`` prints one JSON
object: completed 200 responses per second over the measured window (after the warm-up), other
statuses, errors and latency percentiles.

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
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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
        if status == 200:
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


async def _raw_worker(url: str, headers: dict[str, str], stop_at: float, tally: Tally) -> None:
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                writer.write(request)
                status, size = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                continue
            tally.record(started, status, size)
    finally:
        writer.close()


async def _httpx_worker(client: object, url: str, headers: dict[str, str], stop_at: float, tally: Tally) -> None:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError:
            tally.errors += 1
            continue
        tally.record(started, response.status_code, len(response.content))


async def run(
    url: str, headers: dict[str, str], concurrency: int, duration: float, warmup: float, client: str
) -> dict[str, object]:
    start = time.perf_counter()
    tally = Tally(start + warmup, start + warmup + duration)
    stop_at = tally.measure_to
    if client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            await asyncio.gather(*(_httpx_worker(http, url, headers, stop_at, tally) for _ in range(concurrency)))
    else:
        await asyncio.gather(*(_raw_worker(url, headers, stop_at, tally) for _ in range(concurrency)))
    lat = sorted(tally.latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

    return {
        "url": url,
        "client": client,
        "concurrency": concurrency,
        "duration": duration,
        "ok": tally.ok,
        "total": tally.total,
        "rps": round(tally.ok / duration, 1),
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
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=15.0)
    parser.add_argument("-w", "--warmup", type=float, default=3.0)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    work = run(args.url, headers, args.concurrency, args.duration, args.warmup, args.client)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

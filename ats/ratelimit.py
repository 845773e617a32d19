"""Fixed-window rate limits: counters in this process by default, in Redis when ``ATS_REDIS_URL`` is set.

Both limiters answer the same questions, asynchronously: ``hit`` counts one attempt and says how
long to wait when it went over the limit; ``undo`` takes an attempt back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class Limiter(Protocol):
    limit: int

    async def hit(self, key: str) -> int: ...

    async def undo(self, key: str) -> None: ...


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds per key, counted in this process."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    async def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 when it may now. Does not count a hit."""
        with self._lock:
            start, count = self._hits.get(key, (0.0, 0))
            now = self._clock()
            if now - start >= self.window or count < self.limit:
                return 0
            return max(1, math.ceil(self.window - (now - start)))

    async def hit(self, key: str) -> int:
        """Count one hit; return the seconds to wait when it went over the limit, else 0."""
        with self._lock:
            now = self._clock()
            if len(self._hits) > 100_000:
                self._hits = {k: v for k, v in self._hits.items() if now - v[0] < self.window}
            start, count = self._hits.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            count += 1
            self._hits[key] = (start, count)
            if count > self.limit:
                return max(1, math.ceil(self.window - (now - start)))
            return 0

    async def undo(self, key: str) -> None:
        """Take back one hit (an attempt counted up front that turned out fine)."""
        with self._lock:
            start, count = self._hits.get(key, (0.0, 0))
            if count > 0:
                self._hits[key] = (start, count - 1)


class RedisRateLimiter:
    """The same fixed window, in Redis: every process behind the load balancer shares the counts."""

    def __init__(self, client: Any, limit: int, window: int, prefix: str) -> None:
        self.client = client
        self.limit = limit
        self.window = int(window)
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"ats:rl:{self.prefix}:{key}"

    async def hit(self, key: str) -> int:
        name = self._key(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self.window, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        if int(count) > self.limit:
            return max(1, int(ttl) if int(ttl) > 0 else self.window)
        return 0

    async def undo(self, key: str) -> None:
        await self.client.decr(self._key(key))

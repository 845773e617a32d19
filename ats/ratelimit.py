"""Fixed-window counters kept in this process (the contract's default when no Redis is set)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 when it may now. Does not count a hit."""
        with self._lock:
            start, count = self._hits.get(key, (0.0, 0))
            now = self._clock()
            if now - start >= self.window or count < self.limit:
                return 0
            return max(1, math.ceil(self.window - (now - start)))

    def hit(self, key: str) -> int:
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

    def undo(self, key: str) -> None:
        """Take back one hit (an attempt counted up front that turned out fine)."""
        with self._lock:
            start, count = self._hits.get(key, (0.0, 0))
            if count > 0:
                self._hits[key] = (start, count - 1)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

from __future__ import annotations

from ats.api.errors import field_error_from_msgspec, pointer_from_path

from ats.ratelimit import RateLimiter


def test_msgspec_messages_become_pointers() -> None:
    unknown = field_error_from_msgspec("Object contains unknown field `admin` - at `$.data`")
    assert (unknown.pointer, unknown.code) == ("/data/admin", "unknown_field")
    missing = field_error_from_msgspec("Object missing required field `password`")
    assert (missing.pointer, missing.code) == ("/password", "required")
    wrong = field_error_from_msgspec("Expected `int`, got `str` - at `$.items[2].rating`")
    assert wrong.pointer == "/items/2/rating"
    assert pointer_from_path(".a.b") == "/a/b"


async def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert await limiter.hit("k") == 0 and await limiter.hit("k") == 0
    assert await limiter.hit("k") == 60
    assert await limiter.retry_after("k") == 60
    await limiter.undo("k")
    await limiter.undo("k")
    assert await limiter.retry_after("k") == 0
    assert await limiter.retry_after("other") == 0
    now[0] = 61
    assert await limiter.hit("k") == 0

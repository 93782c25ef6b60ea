"""Per-URL pacing: a burst goes out at once, the rest is queued (never dropped) at the configured rate."""

from __future__ import annotations

import asyncio

from services.notifier.ratelimit import RateLimiter
from tests.notifier.support import FakeClock


async def test_token_bucket_queues_beyond_the_burst_at_one_per_second():
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    limiter = RateLimiter(clock, fake_sleep)
    waits = await asyncio.gather(*(limiter.acquire("https://hooks.example/a", 1.0, 3) for _ in range(6)))
    assert waits == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    # Another URL has its own bucket.
    assert await limiter.acquire("https://hooks.example/b", 1.0, 3) == 0.0
    # Time refills the bucket, up to the burst.
    clock.advance(10)
    assert [await limiter.acquire("https://hooks.example/a", 1.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.acquire("https://hooks.example/a", None, 1) == 0.0


def test_bucket_keys_do_not_hold_the_url():
    limiter = RateLimiter(FakeClock())
    asyncio.run(limiter.acquire("https://hooks.example/secret-token", 1.0, 1))
    assert all("secret-token" not in key for key in limiter._buckets)

"""Per-URL pacing: a token bucket that queues senders instead of dropping messages.

The delivery worker asks ``try_acquire`` ("may I send now, else in how many seconds?") before it claims a
delivery, so no lease runs while a delivery waits for its slot (services/notifier/pacing.py). Anything with
that one method (the ``Pacer`` protocol) can replace these buckets.

These buckets live in one process. The notifier service uses the buckets shared through Redis
(shared_pacing.py), so that N notifier processes together keep each URL at its rate; this one remains for
single-process uses and as the reference behaviour.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from shared.clock import Clock

Sleep = Callable[[float], Awaitable[None]]


class Pacer(Protocol):
    """Decides when a destination may get its next message: this one, or the one shared through Redis."""

    async def try_acquire(self, url: str, rate: float | None, burst: int) -> float:
        """0.0 when a slot was taken for a send now; else the seconds until one is free (nothing taken)."""
        ...


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``acquire`` waits its turn (FIFO)."""

    def __init__(self, rate: float, burst: int, clock: Clock, sleep: Sleep = asyncio.sleep) -> None:
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens = float(burst)
        self.updated = clock.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        """Take one token, waiting if none is left; returns the seconds waited."""
        async with self._lock:  # FIFO: asyncio.Lock wakes waiters in arrival order
            self._refill()
            waited = 0.0
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                await self.sleep(wait)
                waited = wait
                self._refill()
                self.tokens = max(self.tokens, 1.0)
            self.tokens -= 1
            return waited

    def try_take(self) -> float:
        """Take a token if one is there (0.0); else the seconds until one will be, taking nothing."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class RateLimiter:
    """One bucket per destination URL; URLs are keyed by hash so the secret is not kept as a key."""

    def __init__(self, clock: Clock, sleep: Sleep = asyncio.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self._buckets: dict[str, TokenBucket] = {}

    async def acquire(self, url: str, rate: float | None, burst: int) -> float:
        """Wait for the URL's turn (no wait when ``rate`` is None); returns the seconds waited."""
        if rate is None:
            return 0.0
        return await self._bucket(url, rate, burst).acquire()

    async def try_acquire(self, url: str, rate: float | None, burst: int) -> float:
        """Take the URL's next slot if it is free now (0.0), else say in how many seconds it will be."""
        if rate is None:
            return 0.0
        return self._bucket(url, rate, burst).try_take()

    def _bucket(self, url: str, rate: float, burst: int) -> TokenBucket:
        key = hashlib.sha256(url.encode()).hexdigest()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst, self.clock, self.sleep)
        return bucket

"""Failed console logins, limited per client address.

Security notes:
- After ``max_failures`` wrong passwords from one address within ``window`` seconds, every login from that address
  is refused (HTTP 429, Retry-After) until the oldest of those failures is ``window`` old: guessing the password
  costs a minute per five guesses. A right password during the lockout is refused too, or the lockout would tell a
  guesser nothing.
- Failures are kept in Redis (a sorted set of failure times per address), so a restart of the console or a second
  console does not reset the count. Times come from the injected clock; the key's TTL only cleans up.
- A successful login clears the address's failures. The log line of a lockout names the address and the count,
  never what was typed.
- The address is the TCP peer: behind a reverse proxy every user shares the proxy's address and one guesser locks
  everyone out for a minute, which is the safe way round.
"""

from __future__ import annotations

import math
import secrets
from typing import cast

from redis.asyncio import Redis

from shared.clock import Clock
from shared.logging import get_logger
from shared.streams import StreamNames

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0
log = get_logger(__name__)


class LoginThrottle:
    """Counts wrong passwords per client address and says how long an address must wait."""

    def __init__(
        self,
        redis: Redis,
        names: StreamNames,
        clock: Clock,
        *,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.redis, self.names, self.clock = redis, names, clock
        self.max_failures, self.window = max_failures, window

    def key(self, address: str) -> str:
        """The sorted set of one address's recent failure times."""
        return self.names.key("console", "login_failures", address)

    async def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or None when it may try now."""
        now = self.clock.now().timestamp()
        key = self.key(address)
        await self.redis.zremrangebyscore(key, "-inf", now - self.window)
        entries = cast(list[tuple[bytes, float]], await self.redis.zrange(key, 0, -1, withscores=True))
        times = [score for _, score in entries]
        if len(times) < self.max_failures:
            return None
        # The lockout ends when enough failures have aged out to leave room for one more try.
        reopens = times[len(times) - self.max_failures] + self.window
        return max(1, math.ceil(reopens - now))

    async def record_failure(self, address: str) -> int | None:
        """Count one wrong password; returns the lockout's Retry-After when this failure starts one."""
        now = self.clock.now().timestamp()
        key = self.key(address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{now!r}:{secrets.token_hex(4)}": now})
            pipe.zremrangebyscore(key, "-inf", now - self.window)
            pipe.zcard(key)
            pipe.expire(key, math.ceil(self.window) + 1)
            _, _, failures, _ = await pipe.execute()
        if failures < self.max_failures:
            return None
        wait = await self.retry_after(address) or 1
        if failures == self.max_failures:  # one line per lockout, not one per refused attempt
            log.warning("console_login_locked", client=address, failures=failures, retry_after=wait)
        return wait

    async def clear(self, address: str) -> None:
        """Forget an address's failures (after it logged in)."""
        await self.redis.delete(self.key(address))

"""Failed console logins, limited per client address.

Security notes:
- After ``max_failures`` wrong passwords from one client within ``window`` seconds, every login from that client
  is refused (HTTP 429, Retry-After) until the oldest of those failures is ``window`` old: guessing the password
  costs a minute per five guesses. A right password during the lockout is refused too, or the lockout would tell a
  guesser nothing.
- An attempt is counted before its password is compared, atomically, so parallel guesses cannot slip past the
  limit. A client is an IPv4 address or an IPv6 /64 (one host can rotate through its whole /64).
- Failures are kept in Redis (a sorted set of failure times per client), so a restart of the console or a second
  console does not reset the count. Times come from the injected clock; the key's TTL only cleans up.
- A successful login clears the address's failures. The log line of a lockout names the address and the count,
  never what was typed.
- The address is the TCP peer: behind a reverse proxy every user shares the proxy's address and one guesser locks
  everyone out for a minute, which is the safe way round.
"""

from __future__ import annotations

import ipaddress
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
        """The sorted set of one client's recent attempt times (an IPv6 client by its /64: it owns all of it)."""
        return self.names.key("console", "login_failures", client_block(address))

    async def admit(self, address: str) -> int | None:
        """Count one login attempt before its password is compared: None when it may go on, else its Retry-After.

        Counting first, in one transaction, is what makes the limit hold under parallel guesses: checking and
        counting in separate steps let every request sent at the same moment past the check (17 of 40 compared).
        An attempt stays counted as a failure until ``clear`` (a right password) removes it; a refused one is
        taken out again, so hammering during a lockout does not prolong it.
        """
        now = self.clock.now().timestamp()
        key, member = self.key(address), f"{now!r}:{secrets.token_hex(4)}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - self.window)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.expire(key, math.ceil(self.window) + 1)
            _, _, attempts, _ = await pipe.execute()
        if attempts <= self.max_failures:
            return None
        await self.redis.zrem(key, member)
        return await self._wait(key, now)

    async def failed(self, address: str) -> int | None:
        """After a wrong password (already counted by ``admit``): the Retry-After when it starts a lockout."""
        now = self.clock.now().timestamp()
        key = self.key(address)
        failures = int(await self.redis.zcount(key, now - self.window, "+inf"))
        if failures < self.max_failures:
            return None
        wait = await self._wait(key, now)
        if failures == self.max_failures:  # one line per lockout, not one per refused attempt
            log.warning("console_login_locked", client=address, failures=failures, retry_after=wait)
        return wait

    async def _wait(self, key: str, now: float) -> int:
        """Whole seconds until enough attempts have aged out of the window to leave room for one more."""
        entries = cast(
            list[tuple[bytes, float]], await self.redis.zrangebyscore(key, now - self.window, "+inf", withscores=True)
        )
        times = [score for _, score in entries]
        if len(times) < self.max_failures:
            return 1
        reopens = times[len(times) - self.max_failures] + self.window
        return max(1, math.ceil(reopens - now))

    async def clear(self, address: str) -> None:
        """Forget an address's failures (after it logged in)."""
        await self.redis.delete(self.key(address))


def client_block(address: str) -> str:
    """What one client controls: its IPv4 address, or its IPv6 /64 (a host picks any address in its own /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)

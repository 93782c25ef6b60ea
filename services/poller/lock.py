"""One replica per feed at a time: a Redis lock with an expiry, released only by its holder."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.streams import StreamNames

# Compare-and-delete: a replica whose lock expired (a poll slower than the TTL) must not delete the lock another
# replica has taken since.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class FeedLocks:
    """``async with locks.hold(url) as held``: held is False when another replica polls the feed now."""

    def __init__(self, redis: Redis, names: StreamNames, ttl_seconds: float) -> None:
        self.redis, self.names = redis, names
        self.ttl_ms = max(1000, int(ttl_seconds * 1000))
        self._release = redis.register_script(_RELEASE)

    def key(self, url: str) -> str:
        """The lock key of one feed."""
        return self.names.key("lock", "feed", hashlib.sha256(url.encode()).hexdigest()[:32])

    @contextlib.asynccontextmanager
    async def hold(self, url: str) -> AsyncIterator[bool]:
        """Try to take the feed's lock (SET NX PX); release it on exit if it was taken."""
        key, token = self.key(url), secrets.token_hex(16)
        held = bool(await self.redis.set(key, token, nx=True, px=self.ttl_ms))
        try:
            yield held
        finally:
            if held:
                # If Redis is gone now, the expiry frees the lock; the poll's own outcome is what gets reported.
                with contextlib.suppress(RedisError):
                    await self._release(keys=[key], args=[token])

"""Per-URL pacing shared by every notifier process: one token bucket per destination URL, kept in Redis.

The in-process buckets (ratelimit.py) let N notifiers post N times a URL's rate. Here the bucket lives in one Redis
key and one Lua script takes a token, so all notifiers together keep each URL at its rate. The script *reserves*:
the bucket may go below zero, and the caller is told how long to wait for the token it now owns. Waiting callers
therefore never race for the same token again, and they are served in the order they asked, across processes.

Time is Redis' own (TIME inside the script), so notifiers on hosts whose clocks differ still agree. A reservation
abandoned (the process stops while waiting) costs one token of pace, never a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import math

from redis.asyncio import Redis

from services.notifier.ratelimit import Sleep
from shared.streams import StreamNames

# KEYS: the URL's bucket. ARGV: rate (tokens/s), burst. Returns the seconds to wait, as a string (Lua numbers
# would be truncated to integers on the way out).
_TAKE = """
local now = redis.call('TIME')
local at = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, last = tonumber(state[1]) or burst, tonumber(state[2]) or at
tokens = math.min(burst, tokens + math.max(0, at - last) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""


class SharedRateLimiter:
    """Same interface as ratelimit.RateLimiter; the buckets are shared by every notifier through Redis."""

    def __init__(self, redis: Redis, names: StreamNames, sleep: Sleep = asyncio.sleep) -> None:
        self.redis, self.names, self.sleep = redis, names, sleep
        self._take = redis.register_script(_TAKE)

    def bucket_key(self, url: str) -> str:
        """The bucket's key: the URL is hashed, so the secret in it is not kept as a key name."""
        return self.names.key("pace", hashlib.sha256(url.encode()).hexdigest()[:32])

    async def acquire(self, url: str, rate: float | None, burst: int) -> float:
        """Wait for the URL's turn (no wait when ``rate`` is None); returns the seconds waited."""
        if rate is None:
            return 0.0
        reply = await self._take(keys=[self.bucket_key(url)], args=[repr(float(rate)), int(burst)])
        wait = float(reply.decode() if isinstance(reply, bytes) else reply)
        if wait > 0 and math.isfinite(wait):
            await self.sleep(wait)
        return wait

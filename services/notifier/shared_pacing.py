"""Per-URL pacing shared by every notifier process: one token bucket per destination URL, kept in Redis.

The in-process buckets (ratelimit.py) let N notifiers post N times a URL's rate. Here the bucket lives in one Redis
key and one Lua script takes a token, so all notifiers together keep each URL at its rate. It implements the
``Pacer`` protocol: ``try_acquire`` never waits and never reserves. It takes a token when one is there (0.0: send
now), else it takes nothing and says how long until one will be; the delivery worker asks before it claims a
delivery (services/notifier/pacing.py), so no lease runs while a delivery waits for its turn, and a notifier that
stops while waiting costs no token.

Time is Redis' own (TIME inside the script), so notifiers on hosts whose clocks differ still agree; only a test's
pinned clock replaces it, as for the leases (services/notifier/leases.py, ``pinned_time``). The bucket is
one key, so the script runs on Redis Cluster too (its slot's node), registered on the client so the cluster
client preloads it on every primary (shared/redis_client.py).
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from services.notifier.leases import pinned_time
from shared.clock import Clock, SystemClock
from shared.streams import StreamNames

# KEYS: the URL's bucket. ARGV: rate (tokens/s), burst, time ('' for Redis TIME). Returns the seconds until a
# token is there, as a string ('0' when one was taken; Lua numbers would be truncated to integers on the way out).
# A refusal writes nothing.
_TRY_TAKE = """
local at = tonumber(ARGV[3])
if not at then local now = redis.call('TIME'); at = tonumber(now[1]) + tonumber(now[2]) / 1000000 end
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, last = tonumber(state[1]) or burst, tonumber(state[2]) or at
tokens = math.min(burst, tokens + math.max(0, at - last) * rate)
if tokens < 1 then return tostring((1 - tokens) / rate) end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1)
return '0'
"""


class SharedRateLimiter:
    """A ``Pacer`` (ratelimit.py) whose buckets every notifier shares through Redis."""

    def __init__(self, redis: Redis, names: StreamNames, clock: Clock | None = None) -> None:
        self.redis, self.names = redis, names
        self._time = pinned_time(clock or SystemClock())
        self._try_take = redis.register_script(_TRY_TAKE)

    def bucket_key(self, url: str) -> str:
        """The bucket's key: the URL is hashed, so the secret in it is not kept as a key name."""
        return self.names.key("pace", hashlib.sha256(url.encode()).hexdigest()[:32])

    async def try_acquire(self, url: str, rate: float | None, burst: int) -> float:
        """Take the URL's next slot if it is free now (0.0), else say in how many seconds it will be (no rate: 0.0)."""
        if rate is None:
            return 0.0
        reply = await self._try_take(keys=[self.bucket_key(url)], args=[repr(float(rate)), int(burst), self._time()])
        return max(0.0, float(reply.decode() if isinstance(reply, bytes) else reply))

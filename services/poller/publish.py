"""Publishing each item id once: the seen-marker and the stream entry are written in one Lua script."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from shared.schemas import Item
from shared.streams import DATA_FIELD, StreamNames

# Atomic on the server: either the item is marked seen AND appended, or neither. Marking first and
# appending after could lose an item on a crash between the two; the reverse could publish it twice.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
  return 1
end
return 0
"""


class ItemPublisher:
    """Publishes items to the items stream, each id at most once within ``seen_ttl``."""

    def __init__(self, redis: Redis, names: StreamNames, *, seen_ttl: float, maxlen: int) -> None:
        self.redis, self.names = redis, names
        self.seen_ttl, self.maxlen = max(1, int(seen_ttl)), maxlen
        self._script = redis.register_script(_PUBLISH_ONCE)

    async def publish_many(self, items: Sequence[Item]) -> int:
        """Publish the new ones of ``items`` in one round trip, each atomically; returns how many were new."""
        if not items:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                keys = [self.names.key("seen", item.id), self.names.items]
                args: list[str | int] = [self.seen_ttl, self.maxlen, DATA_FIELD, item.to_json()]
                await self._script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return sum(1 for reply in replies if reply)

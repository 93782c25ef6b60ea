"""Publishing each item id once: the seen-marker and the stream entry are written in one Lua script (seen.py)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from services.poller.seen import PUBLISH_ONCE, publish_once_inputs
from shared.clock import Clock, SystemClock
from shared.schemas import Item
from shared.streams import DATA_FIELD, StreamNames


class ItemPublisher:
    """Publishes items to the items stream, each id at most once within ``seen_ttl``."""

    def __init__(
        self, redis: Redis, names: StreamNames, *, seen_ttl: float, maxlen: int, clock: Clock | None = None
    ) -> None:
        self.redis, self.names = redis, names
        self.seen_ttl, self.maxlen = max(1, int(seen_ttl)), maxlen
        self.clock = clock or SystemClock()
        self._script = redis.register_script(PUBLISH_ONCE)

    async def publish_many(self, items: Sequence[Item]) -> int:
        """Publish the new ones of ``items`` in one round trip, each atomically; returns how many were new."""
        if not items:
            return 0
        now = self.clock.now().timestamp()
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                keys, args = publish_once_inputs(
                    self.names, item, item.to_json(), now=now, ttl=self.seen_ttl, maxlen=self.maxlen, field=DATA_FIELD
                )
                await self._script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return sum(1 for reply in replies if reply)

"""Publishing each item id once: the seen-marker and the stream entry are written in one Lua script (seen.py).

Back-pressure (shared/stream_bounds.py): the script refuses an item while the items stream holds ``maxlen``
entries the classifier has not read and acked. A refused item is neither marked seen nor appended, and the poller
keeps the feed's old validators, so the next poll fetches it again: a backlog delays items, it never loses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from services.poller.seen import PUBLISH_ONCE, publish_once_inputs
from shared.clock import Clock, SystemClock
from shared.health import HealthState
from shared.schemas import Item
from shared.stream_bounds import StreamRoom
from shared.streams import DATA_FIELD, StreamNames


@dataclass(frozen=True)
class Published:
    """What one batch did: items appended, and items left for a later poll because the stream was full."""

    published: int
    waiting: int


class ItemPublisher:
    """Publishes items to the items stream, each id at most once within ``seen_ttl``."""

    def __init__(
        self,
        redis: Redis,
        names: StreamNames,
        *,
        seen_ttl: float,
        maxlen: int,
        health: HealthState | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.redis, self.names = redis, names
        self.seen_ttl, self.maxlen = max(1, int(seen_ttl)), maxlen
        self.clock = clock or SystemClock()
        self.room = StreamRoom(redis, names.items, maxlen, health=health)
        self._script = redis.register_script(PUBLISH_ONCE)

    async def publish_many(self, items: Sequence[Item]) -> Published:
        """Publish the new ones of ``items`` in one round trip, each atomically, while the stream has room."""
        if not items:
            return Published(0, 0)
        await self.room.free(len(items))  # trims what the classifier has acked, to make room for the batch
        now = self.clock.now().timestamp()
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                keys, args = publish_once_inputs(
                    self.names, item, item.to_json(), now=now, ttl=self.seen_ttl, maxlen=self.maxlen, field=DATA_FIELD
                )
                await self._script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        waiting = sum(1 for reply in replies if reply == -1)
        self.room.refused(waiting)
        return Published(sum(1 for reply in replies if reply == 1), waiting)

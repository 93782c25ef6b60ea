"""Story search reads a bounded number of stories' vectors, and lost WATCH races end in a clear error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis

from services.classifier import stories
from services.classifier.stories import StoryAssignment, StoryContention, StoryStore
from shared.config import StorySettings
from shared.schemas import FeedRef, Item
from shared.streams import StreamNames

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
NAMES = StreamNames("tripwire:")


def item(item_id: str, title: str) -> Item:
    return Item(id=item_id, feed=FeedRef(url="http://127.0.0.1/a.xml"), title=title, fetched_at=NOW)


def axis(index: int, dims: int = 32) -> np.ndarray:
    vector = np.zeros(dims, dtype=np.float32)
    vector[index] = 1.0
    return vector


async def lrange_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_lrange", {}).get("calls", 0))


async def test_search_reads_the_item_vectors_of_the_best_ranked_stories_only(redis: Redis):
    store = StoryStore(redis, NAMES, StorySettings(threshold=0.8))
    for n in range(12):
        await store.assign("t", item(f"s{n}", f"story {n}"), axis(n), 0.9, NOW)
    close_to_five = axis(5) + 0.2 * axis(20)
    close_to_five /= np.linalg.norm(close_to_five)
    before = await lrange_calls(redis)
    joined = await store.assign("t", item("x", "another title"), close_to_five, 0.9, NOW)
    assert await lrange_calls(redis) - before == stories.CANDIDATES  # not one per story in the window
    assert (joined.event, joined.reason) == ("story.update", "similar")
    assert joined.story_id == stories.story_id_for("t", "s5")


class RacedStore(StoryStore):
    """Another replica changes the topic between every read and write."""

    async def _decide(
        self, topic: str, item: Item, vector: np.ndarray, now: datetime, places: Sequence[str]
    ) -> tuple[StoryAssignment, Any]:
        decision = await super()._decide(topic, item, vector, now, places)
        await self.redis.incr(self._topic_key("version", topic))
        return decision


async def test_endless_races_fail_the_item_after_a_bounded_number_of_attempts(redis: Redis):
    store = RacedStore(redis, NAMES, StorySettings(threshold=0.8))
    with pytest.raises(StoryContention, match="10 concurrent changes"):
        await store.assign("t", item("1", "a title"), axis(1), 0.9, NOW)
    assert int(await redis.get(NAMES.key("stories", "version", "t")) or 0) == stories.MAX_ATTEMPTS
    assert await redis.get(NAMES.key("stories", "item", "t", "1")) is None  # nothing half-written

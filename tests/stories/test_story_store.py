"""Story state on a real Redis: join-or-open, trivial joins, the window, idempotence, concurrent replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
from redis.asyncio import Redis

from services.classifier.stories import StoryStore, normalized_title
from shared.config import StorySettings
from shared.redis_server import RedisServer
from shared.schemas import FeedRef, Item
from shared.streams import StreamNames

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
NAMES = StreamNames("tripwire:")
SETTINGS = StorySettings(threshold=0.8)


def item(item_id: str, title: str, feed: str = "a", link: str | None = None) -> Item:
    return Item(
        id=item_id, feed=FeedRef(url=f"http://127.0.0.1/{feed}.xml", title=feed.upper()), title=title,
        link=link, fetched_at=NOW,
    )  # fmt: skip


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(8, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


async def test_close_items_join_and_far_items_open_their_own_story(redis: Redis):
    store = StoryStore(redis, NAMES, SETTINGS)
    first = await store.assign("t", item("1", "Convoys block each other near Derik"), unit(1, 0), 0.7, NOW)
    close = await store.assign("t", item("2", "Standoff at Derik", "b"), unit(1, 0.3), 0.8, NOW)
    far = await store.assign("t", item("3", "Joint patrol at Kobani", "c"), unit(0, 1), 0.9, NOW)
    other_topic = await store.assign("u", item("2", "Standoff at Derik", "b"), unit(1, 0.3), 0.8, NOW)

    assert (first.event, first.sources, first.reason) == ("story.new", 1, "new")
    assert (close.event, close.story_id, close.sources, close.reason) == ("story.update", first.story_id, 2, "similar")
    assert close.title == "Convoys block each other near Derik" and close.similarity is not None
    assert far.event == "story.new" and far.story_id != first.story_id
    assert other_topic.event == "story.new"  # stories are per topic: subscriptions are too


async def test_same_link_or_title_joins_whatever_the_embedding(redis: Redis):
    store = StoryStore(redis, NAMES, SETTINGS)
    first = await store.assign("t", item("1", "Convoys meet", link="https://x.example/1"), unit(1), 0.7, NOW)
    same_link = await store.assign("t", item("2", "Other words", "b", "https://x.example/1"), unit(0, 1), 0.7, NOW)
    same_title = await store.assign("t", item("3", "CONVOYS  meet!", "a"), unit(0, 0, 1), 0.7, NOW)
    assert (same_link.story_id, same_link.reason, same_link.sources) == (first.story_id, "link", 2)
    # A second item from a feed already counted joins without adding a source.
    assert (same_title.story_id, same_title.reason, same_title.sources) == (first.story_id, "title", 2)
    assert normalized_title("CONVOYS  meet!") == normalized_title("Convoys meet")


async def test_a_story_older_than_the_window_is_not_joined(redis: Redis):
    store = StoryStore(redis, NAMES, StorySettings(threshold=0.8, window="48h"))
    first = await store.assign("t", item("1", "Convoys meet"), unit(1), 0.7, NOW)
    inside = await store.assign("t", item("2", "Convoys met", "b"), unit(1), 0.7, NOW + timedelta(hours=47))
    # The window counts from the story's last alert, so a story that keeps being reported stays open.
    later = await store.assign("t", item("3", "Convoys met again", "c"), unit(1), 0.7, NOW + timedelta(hours=94))
    after = await store.assign("t", item("4", "Convoys anew", "d"), unit(1), 0.7, NOW + timedelta(hours=143))
    assert inside.story_id == later.story_id == first.story_id
    assert after.event == "story.new" and after.story_id != first.story_id


async def test_rescoring_an_item_returns_its_first_assignment(redis: Redis):
    store = StoryStore(redis, NAMES, SETTINGS)
    await store.assign("t", item("1", "Convoys meet"), unit(1), 0.7, NOW)
    joined = await store.assign("t", item("2", "Convoys met", "b"), unit(1), 0.7, NOW)
    again = await store.assign("t", item("2", "Convoys met", "b"), unit(1), 0.7, NOW)
    assert again == joined
    [story] = await store.recent()
    assert len(story.items) == 2 and story.sources == 2


async def test_concurrent_replicas_open_one_story_for_near_simultaneous_items(redis_server: RedisServer):
    # Eight replicas, each with its own connection, see eight items of one event at once.
    clients = [Redis.from_url(redis_server.url) for _ in range(8)]
    try:
        await clients[0].flushdb()
        stores = [StoryStore(client, NAMES, SETTINGS) for client in clients]
        results = await asyncio.gather(
            *(store.assign("t", item(str(n), f"Report {n}", f"f{n}"), unit(1, 0.01 * n), 0.7, NOW)
              for n, store in enumerate(stores))
        )  # fmt: skip
        assert len({result.story_id for result in results}) == 1
        assert [result.event for result in results].count("story.new") == 1
        assert sorted(result.sources for result in results) == list(range(1, 9))
        [story] = await stores[0].recent()
        assert story.sources == 8 and len(story.items) == 8
    finally:
        for client in clients:
            await client.aclose()

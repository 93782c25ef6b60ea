"""The classifier with stories on: the real model, a real Redis; one story for one event from two outlets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from shared.config import TripwireConfig
from shared.schemas import Alert, FeedRef, Item, parse_alerts_message
from shared.streams import DATA_FIELD, StreamNames
from tripwire.cli_stories import render_stories

pytestmark = [pytest.mark.model, pytest.mark.slow]
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def item(item_id: str, feed: str, title: str, summary: str) -> Item:
    return Item(
        id=item_id, feed=FeedRef(url=f"http://127.0.0.1/{feed}.xml", title=feed), title=title, summary=summary,
        link=f"http://127.0.0.1/{feed}/{item_id}", fetched_at=NOW,
    )  # fmt: skip


async def test_second_outlet_on_the_same_standoff_is_a_story_update(
    redis: Redis, embedder: object, default_config: TripwireConfig
):
    names = StreamNames(default_config.redis.stream_prefix)
    items = [
        item("a", "alpha", "Russian troops block US patrol near Qamishli",
             "American vehicles were forced to turn back after a two-hour standoff with a Russian convoy."),
        item("b", "beta", "US patrol turned back by Russian convoy near Qamishli after standoff",
             "A Russian military convoy blocked American armored vehicles for two hours near Qamishli."),
        item("c", "gamma", "Turkish and Russian forces hold joint patrol near Kobani",
             "Armored vehicles of both armies patrolled villages east of the Euphrates."),
    ]  # fmt: skip
    for one in items:
        await redis.xadd(names.items, {DATA_FIELD: one.to_json()})
    classifier = Classifier(default_config, redis, Scorer(default_config.topics, embedder), "c1")  # type: ignore[arg-type]
    await classifier.run(asyncio.Event(), drain=True)

    alerts = [parse_alerts_message(fields[DATA_FIELD.encode()]) for _id, fields in await redis.xrange(names.alerts)]
    by_item = {alert.item.id: alert for alert in alerts if isinstance(alert, Alert)}
    assert by_item["a"].event == "story.new" and by_item["a"].story_sources == 1
    assert by_item["b"].event == "story.update" and by_item["b"].story_id == by_item["a"].story_id
    assert by_item["b"].story_sources == 2 and by_item["b"].story_title == items[0].title
    assert by_item["c"].event == "story.new" and by_item["c"].story_id != by_item["a"].story_id

    assert classifier.stories is not None
    listing = render_stories(await classifier.stories.recent())
    assert "2 sources" in listing and "similar" in listing and items[0].title in listing

"""The classifier service on a real Redis: items in, explained alerts out, metrics counted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.classifier.scoring import Scorer
from services.classifier.service import Classifier, alert_id
from shared.config import TripwireConfig
from shared.schemas import Alert, FeedRef, Item, parse_alerts_message
from shared.stats import alerts_per_hour, items_per_feed_language
from shared.streams import DATA_FIELD, StreamNames

pytestmark = [pytest.mark.model, pytest.mark.slow]
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def item(item_id: str, title: str, summary: str = "") -> Item:
    return Item(id=item_id, feed=FeedRef(url="http://127.0.0.1/feed.xml"), title=title, summary=summary, fetched_at=NOW)


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_batch_of_items_becomes_alerts_with_reasons(
    redis: Redis, embedder: object, default_config: TripwireConfig
):
    names = StreamNames(default_config.redis.stream_prefix)
    items = [
        item("standoff", "Russian troops block US patrol near Qamishli",
             "American vehicles were forced to turn back after a two-hour standoff with a Russian convoy."),
        item("joint", "Turkish and Russian forces hold joint patrol near Kobani",
             "Armored vehicles of both armies patrolled villages east of the Euphrates."),
        item("noise", "Bakery wins prize for sourdough", "Judges praised the crust."),
    ]  # fmt: skip
    for one in items:
        await redis.xadd(names.items, {DATA_FIELD: one.to_json()})
    await redis.xadd(names.items, {DATA_FIELD: "{not json"})
    classified = metric("tripwire_items_classified_total")
    created = metric("tripwire_alerts_created_total", {"topic": "joint_patrol"})

    classifier = Classifier(default_config, redis, Scorer(default_config.topics, embedder), "c1")  # type: ignore[arg-type]
    acked = await classifier.run(asyncio.Event(), drain=True)

    assert acked == 4  # the invalid entry is acked too, so it never blocks the group
    entries = await redis.xrange(names.alerts)
    alerts = [parse_alerts_message(fields[DATA_FIELD.encode()]) for _id, fields in entries]
    assert all(isinstance(alert, Alert) for alert in alerts)
    got = {(alert.item.id, alert.topic) for alert in alerts if isinstance(alert, Alert)}
    assert got == {("standoff", "us_russia_standoff"), ("joint", "joint_patrol")}
    for alert in alerts:
        assert isinstance(alert, Alert)
        assert alert.id == alert_id(alert.item.id, alert.topic)
        assert alert.score >= alert.reasons.threshold and alert.reasons.nearest_example
        assert alert.reasons.keywords and alert.reasons.semantic_score is not None
    assert metric("tripwire_items_classified_total") == classified + 3
    assert metric("tripwire_alerts_created_total", {"topic": "joint_patrol"}) == created + 1
    assert metric("tripwire_classifier_batch_size_count") >= 1
    assert metric("tripwire_topic_score_count", {"topic": "us_russia_standoff"}) >= 3
    # The places each item names (the shipped gazetteer) ride on its alert.
    places = {alert.item.id: [p.name for p in alert.places] for alert in alerts if isinstance(alert, Alert)}
    assert places == {"standoff": ["Qamishli"], "joint": ["Kobani"]}
    # The overview's counters, kept in the same pipeline as the alerts (shared/stats.py).
    now = datetime.now(UTC)
    hourly = await alerts_per_hour(redis, names, now, hours=2)
    assert {topic: sum(counts) for topic, counts in hourly.items()} == {"us_russia_standoff": 1, "joint_patrol": 1}
    # The items carried no language: the classifier detected it, and the counters say which.
    assert await items_per_feed_language(redis, names, now) == {("http://127.0.0.1/feed.xml", "en"): 3}

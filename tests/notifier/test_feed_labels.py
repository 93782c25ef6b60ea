"""Feeds carry their labels onto items, and subscriptions may take only the feeds with a label (one region's sources
to one channel)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notifier.routing import route
from services.poller.parse import parse_feed
from shared.config import SubscriptionConfig
from shared.schemas import FeedRef, Item
from tests.helpers import rss
from tests.notifier.support import make_alert, make_health_event


def subscription(name: str, labels: list[str]) -> SubscriptionConfig:
    """A webhook subscription filtering on ``labels``."""
    doc = {"name": name, "type": "webhook", "url": "https://hooks.example/x", "feed_labels": labels}
    return SubscriptionConfig.model_validate(doc)


def test_the_poller_puts_the_feed_labels_on_each_item():
    content = rss([{"title": "Convoy near Derik", "description": "x", "link": "https://n.example/1"}])
    parsed = parse_feed(content, {}, "https://n.example/rss", datetime.now(UTC), "N", ["syria", "kurdish"])
    assert parsed.items and all(item.feed.labels == ["syria", "kurdish"] for item in parsed.items)
    # An item from a producer that predates labels still reads (the field is additive).
    doc = parsed.items[0].model_dump(mode="json")
    del doc["feed"]["labels"]
    assert Item.model_validate(doc).feed.labels == []


def test_subscriptions_take_only_the_labels_they_ask_for():
    syria, turkey, everything = (
        subscription("syria", ["syria"]),
        subscription("tr", ["turkey"]),
        subscription("all", []),
    )
    alert = make_alert(feed=FeedRef(url="https://n.example/rss", title="N", labels=["syria"]))
    assert [s.name for s in route([syria, turkey, everything], alert)] == ["syria", "all"]
    unlabeled = make_alert()
    assert [s.name for s in route([syria, turkey, everything], unlabeled)] == ["all"]
    health = make_health_event()
    subs = [s.model_copy(update={"feed_health": True}) for s in (syria, everything)]
    assert [s.name for s in route(subs, health)] == ["all"]

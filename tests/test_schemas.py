"""Stream documents: versions, and reading an alert out of an alerts-stream entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.schemas import Alert, FeedHealthEvent, FeedRef, Item, Reasons, SchemaError, alert_or_none

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FEED = FeedRef(url="http://127.0.0.1/feed.xml")
ITEM = Item(id="i1", feed=FEED, title="A title", fetched_at=NOW)
ALERT = Alert(id="a1", item=ITEM, topic="t", score=0.7, reasons=Reasons(score=0.7, threshold=0.5), created_at=NOW)


def test_alert_or_none_reads_alerts_and_skips_the_rest() -> None:
    health = FeedHealthEvent(id="h1", feed=FEED, status="failing", message="HTTP 500", created_at=NOW)
    assert alert_or_none(ALERT.to_json()) == ALERT
    assert alert_or_none(health.to_json()) is None  # feed health is not an alert
    assert alert_or_none(None) is None  # trimmed while pending
    assert alert_or_none(b"{not json") is None


def test_an_unknown_schema_version_is_named_in_the_error() -> None:
    with pytest.raises(SchemaError, match="schema version 2 is not supported"):
        Item.from_json(ITEM.to_json().replace('"v":1', '"v":2'))

"""Hourly counters for the console's overview, kept by the classifier beside the XADDs it already pipelines.

The overview must stay fast with 100,000 entries in a stream: parsing them per request is out, so the classifier
adds one HINCRBY per alert and per item to small per-hour and per-day hashes, which expire after ``KEEP_DAYS``.
Counted when the classifier publishes: an item it re-scores after a crash (at-least-once) is counted again, which
an overview can bear and a delivery could not (the notifier still deduplicates on alert ids).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.schemas import Item
from shared.streams import StreamNames

KEEP_DAYS = 8  # the overview shows 7 days; one more so the oldest hour shown is never half expired
UNKNOWN_LANGUAGE = "unknown"
_SEP = "\t"


def _hour(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H")


def _day(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d")


def alerts_key(names: StreamNames, at: datetime) -> str:
    """The hash of alerts per topic in ``at``'s hour (UTC)."""
    return names.key("stats", "alerts", _hour(at))


def items_key(names: StreamNames, at: datetime) -> str:
    """The hash of items per (feed, language) on ``at``'s day (UTC)."""
    return names.key("stats", "items", _day(at))


def count_alerts(pipe: Pipeline, names: StreamNames, topics: Iterable[str], at: datetime) -> None:
    """Queue the count of alerts of ``topics`` (one entry per alert) in ``at``'s hour: one HINCRBY per topic."""
    _add(pipe, alerts_key(names, at), Counter(topics))


def count_items(pipe: Pipeline, names: StreamNames, items: Iterable[Item], at: datetime) -> None:
    """Queue the count of ``items`` per feed and language (``unknown`` when it has none) on ``at``'s day."""
    _add(pipe, items_key(names, at), Counter(f"{i.feed.url}{_SEP}{i.language or UNKNOWN_LANGUAGE}" for i in items))


def _add(pipe: Pipeline, key: str, counts: Counter[str]) -> None:
    for field, count in counts.items():
        pipe.hincrby(key, field, count)
    if counts:
        pipe.expire(key, KEEP_DAYS * 86400)


def _hours_back(now: datetime, hours: int) -> list[datetime]:
    top = now.replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=back) for back in range(hours - 1, -1, -1)]


async def alerts_per_hour(redis: Redis, names: StreamNames, now: datetime, hours: int = 168) -> dict[str, list[int]]:
    """Alerts per topic in each of the last ``hours`` hours (oldest first, the current hour last): one round trip."""
    starts = _hours_back(now, hours)
    async with redis.pipeline(transaction=False) as pipe:
        for start in starts:
            pipe.hgetall(alerts_key(names, start))
        rows = await pipe.execute()
    series: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        for topic, count in row.items():
            name = topic.decode() if isinstance(topic, bytes) else str(topic)
            series.setdefault(name, [0] * hours)[index] = int(count)
    return series


async def items_per_feed_language(
    redis: Redis, names: StreamNames, now: datetime, days: int = 7
) -> dict[tuple[str, str], int]:
    """Items per (feed URL, language) over the last ``days`` days (today included): one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for back in range(days):
            pipe.hgetall(items_key(names, now - timedelta(days=back)))
        rows = await pipe.execute()
    totals: dict[tuple[str, str], int] = {}
    for row in rows:
        for field, count in row.items():
            text = field.decode() if isinstance(field, bytes) else str(field)
            feed, _, language = text.rpartition(_SEP)
            totals[(feed, language)] = totals.get((feed, language), 0) + int(count)
    return totals

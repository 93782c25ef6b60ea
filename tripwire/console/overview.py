"""What the overview shows, read in a handful of bounded round trips (never by parsing the streams' entries).

Alerts per topic per hour and items per feed and language come from the classifier's counters (shared/stats.py);
feed health from the poller's feed states; the streams' length, cap and consumer lag from XLEN and XINFO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from redis.asyncio import Redis

from services.classifier.service import GROUP as CLASSIFIER_GROUP
from services.notifier.service import GROUP as NOTIFIER_GROUP
from shared.config import TripwireConfig
from shared.stats import alerts_per_hour, items_per_feed_language
from shared.stream_gauges import group_backlog
from shared.streams import StreamNames
from tripwire.console import data

HOURS = 168  # 7 days of hour buckets
FEED_ROWS = 30  # the most (feed, language) bars drawn; the rest are summed into one line


@dataclass(frozen=True)
class StreamLoad:
    """One stream's length against its cap, and how far its consumer group is behind."""

    stream: str
    group: str
    length: int
    cap: int
    lag: int | None  # None: the group does not exist yet (its service has not started)
    pending: int


@dataclass(frozen=True)
class Overview:
    """Everything on the console's home page."""

    first_hour: datetime
    alerts: dict[str, list[int]]  # per topic, one count per hour, oldest first
    items: list[tuple[str, int]]  # ("feed · language", items in 7 days), most first
    items_other: int  # items of the (feed, language) pairs beyond FEED_ROWS
    failing: int  # feeds whose last poll failed, from the first failure (not only past the alert threshold)
    stale: int
    feeds: int
    dead_letters: int
    streams: list[StreamLoad]
    failing_feeds: list[tuple[str, int]]  # (feed, consecutive failed polls), most failures first

    @property
    def failing_summary(self) -> str:
        """The failing feeds with their consecutive failures, for the tile: "SANA (7), Hawar (3) and 2 more"."""
        shown = ", ".join(f"{name} ({count})" for name, count in self.failing_feeds[:3])
        more = len(self.failing_feeds) - 3
        return f"{shown} and {more} more" if more > 0 else shown

    @property
    def alerts_total(self) -> int:
        """Alerts in the 7 days shown."""
        return sum(sum(counts) for counts in self.alerts.values())


async def read_overview(redis: Redis, config: TripwireConfig, names: StreamNames, now: datetime) -> Overview:
    """The overview's figures as of ``now``."""
    counted = await alerts_per_hour(redis, names, now, HOURS)
    # Configured topics first, in config order, so each keeps its colour from one day to the next.
    series = {topic: counted.pop(topic, [0] * HOURS) for topic in config.topics} | counted
    titles = {feed.url: feed.name or feed.url for feed in config.feeds}
    per_feed = sorted(
        ((f"{titles.get(url, url)} · {language}", count) for (url, language), count in
         (await items_per_feed_language(redis, names, now)).items()),
        key=lambda row: (-row[1], row[0]),
    )  # fmt: skip
    rows = await data.feeds(redis, config, names, now)
    statuses = [row["status"] for row in rows]
    failing = sorted(
        ((str(row["name"] or row["url"]), int(cast(int, row["consecutive_failures"]))) for row in rows
         if row["status"] == "failing"),
        key=lambda pair: (-pair[1], pair[0]),
    )  # fmt: skip
    streams = [
        await _load(redis, names.items, CLASSIFIER_GROUP, config.redis.maxlen),
        await _load(redis, names.alerts, NOTIFIER_GROUP, config.redis.maxlen),
    ]
    top = now.replace(minute=0, second=0, microsecond=0)
    return Overview(
        first_hour=top - timedelta(hours=HOURS - 1), alerts=series, items=per_feed[:FEED_ROWS],
        items_other=sum(count for _, count in per_feed[FEED_ROWS:]), failing=statuses.count("failing"),
        stale=statuses.count("stale"), feeds=len(rows), dead_letters=int(await redis.xlen(names.dlq)),
        streams=streams, failing_feeds=failing,
    )  # fmt: skip


async def _load(redis: Redis, stream: str, group: str, cap: int) -> StreamLoad:
    lag, pending = await group_backlog(redis, stream, group)
    return StreamLoad(stream, group, int(await redis.xlen(stream)), cap, lag, pending)

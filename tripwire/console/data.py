"""What the console shows, read from the Redis keys the services already keep (it writes nothing here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis

from services.notifier.routing import delivery_id
from services.notifier.store import DeliveryRecord, DeliveryStore
from services.poller.state import FeedStateStore
from shared.config import TripwireConfig
from shared.schemas import Alert, Item, SchemaError, alert_or_none
from shared.streams import DATA_FIELD, StreamNames
from tripwire.cli_feeds import feed_rows

# How far back the pages look: the newest entries of each stream (the streams themselves are capped by redis.maxlen).
SCAN_LIMIT = 2000
Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class DeliveryView:
    """One (alert, subscription) delivery as the notifier recorded it."""

    subscription: str
    state: str  # queued, held, delivered, dead, or "not routed" when the notifier has no record
    attempts: int = 0
    last_reason: str = ""
    last_status: int | None = None


@dataclass
class ItemView:
    """An item with the alerts the classifier published for it (one per matched topic)."""

    entry_id: str
    item: Item
    alerts: list[Alert] = field(default_factory=list)

    @property
    def best_score(self) -> float:
        """The highest alert score, 0 when nothing matched."""
        return max((alert.score for alert in self.alerts), default=0.0)


async def feeds(
    redis: Redis, config: TripwireConfig, names: StreamNames, now: datetime | None = None
) -> list[dict[str, object]]:
    """One record per configured feed with its health as of ``now`` (default: the clock's), the same rows as
    ``tripwire feeds --json``."""
    states = await FeedStateStore(redis, names).load_many([feed.url for feed in config.feeds])
    now = now or datetime.now(UTC)
    return feed_rows(list(config.feeds), states, now=now, stale_after=config.poller.stale_after)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _data(fields: dict[bytes, bytes]) -> bytes | None:
    return fields.get(DATA_FIELD.encode())


async def recent_alerts(redis: Redis, names: StreamNames, limit: int = SCAN_LIMIT) -> list[tuple[str, Alert]]:
    """Newest alerts first (feed-health events are left out); unreadable entries are skipped."""
    raw = cast(Entries, await redis.xrevrange(names.alerts, count=limit))
    alerts = []
    for entry_id, fields in raw:
        if (alert := alert_or_none(_data(fields))) is not None:
            alerts.append((entry_id.decode(), alert))
    return alerts


async def recent_items(redis: Redis, names: StreamNames, limit: int = SCAN_LIMIT) -> list[ItemView]:
    """Newest items first, each with its alerts."""
    raw = cast(Entries, await redis.xrevrange(names.items, count=limit))
    by_item: dict[str, list[Alert]] = {}
    for _, alert in await recent_alerts(redis, names, limit):
        by_item.setdefault(alert.item.id, []).append(alert)
    views = []
    for entry_id, fields in raw:
        data = _data(fields)
        if data is None:
            continue
        try:
            item = Item.from_json(data)
        except SchemaError:
            continue
        views.append(ItemView(entry_id.decode(), item, sorted(by_item.get(item.id, []), key=lambda a: -a.score)))
    return views


def filter_items(
    views: Sequence[ItemView],
    *,
    text: str = "",
    topic: str = "",
    feed: str = "",
    min_score: float = 0.0,
    max_score: float = 1.0,
    language: str = "",
) -> list[ItemView]:
    """Items whose title or summary contains ``text`` (any case), from ``feed``, in ``language``, with a ``topic``
    score in range."""
    needle = text.strip().lower()
    kept = []
    for view in views:
        if needle and needle not in f"{view.item.title}\n{view.item.summary}".lower():
            continue
        if language and not in_language(view.item, language):
            continue
        if feed and view.item.feed.url != feed:
            continue
        scores = [a.score for a in view.alerts if not topic or a.topic == topic]
        score = max(scores, default=0.0)
        if topic and not scores:
            continue
        if not min_score <= score <= max_score:
            continue
        kept.append(view)
    return kept


async def deliveries(
    redis: Redis, store: DeliveryStore, config: TripwireConfig, alerts: Sequence[Alert]
) -> dict[str, list[DeliveryView]]:
    """Per alert id, its delivery to each subscription that takes its topic, as the notifier's state says.

    One pipelined round trip for the whole page (a page can show hundreds of alerts: two per alert added up).
    """
    pairs = [(alert, sub) for alert in alerts for sub in config.subscriptions if sub.takes(alert.topic)]
    ids = [delivery_id(alert.id, sub.name) for alert, sub in pairs]
    views: dict[str, list[DeliveryView]] = {alert.id: [] for alert in alerts}
    if not ids:
        return views
    async with redis.pipeline(transaction=False) as pipe:
        pipe.mget([store.state_key(did) for did in ids])
        pipe.hmget(store.records, ids)
        states, records = await pipe.execute()
    for (alert, sub), state, record in zip(pairs, states, records, strict=True):
        view = DeliveryView(sub.name, _text(state) if state else "not routed")
        if record:
            parsed = DeliveryRecord.from_json(record)
            view = DeliveryView(sub.name, view.state, parsed.delivery.attempts, parsed.last_reason, parsed.last_status)
        views[alert.id].append(view)
    return views


async def find_alert(redis: Redis, names: StreamNames, alert_id: str) -> Alert | None:
    """The newest stored alert with this id, if the alerts stream still holds it."""
    return next((alert for _, alert in await recent_alerts(redis, names) if alert.id == alert_id), None)


async def find_item(redis: Redis, names: StreamNames, item_id: str) -> Item | None:
    """The newest stored item with this id, if the items stream still holds it."""
    return next((view.item for view in await recent_items(redis, names) if view.item.id == item_id), None)


UNKNOWN_LANGUAGE = "unknown"  # the filter value for items without a language (older producers, unsure detection)


def in_language(item: Item, language: str) -> bool:
    """True when ``item`` is in ``language`` (an ISO 639-1 code, or ``unknown`` for items without one)."""
    return item.language == language or (language == UNKNOWN_LANGUAGE and item.language is None)


def languages_seen(items: Sequence[Item]) -> list[str]:
    """The languages of ``items`` for the filter menu, most frequent first (``unknown`` last)."""
    counts: dict[str, int] = {}
    for item in items:
        code = item.language or UNKNOWN_LANGUAGE
        counts[code] = counts.get(code, 0) + 1
    return sorted(counts, key=lambda code: (code == UNKNOWN_LANGUAGE, -counts[code], code))

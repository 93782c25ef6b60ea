"""Backtest: re-score the items already in the items stream with the current config, and compare the result
with the alerts actually in the alerts stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from redis.asyncio import Redis

from services.classifier.batch_scoring import Progress, score_in_reads
from services.classifier.scoring import Scorer
from shared.schemas import Alert, Item, SchemaError, alert_or_none
from shared.streams import DATA_FIELD, StreamNames

PAGE = 500


@dataclass(frozen=True)
class Verdict:
    """One (item, topic) pair that alerts now, alerted then, or both."""

    item: Item
    topic: str
    score: float | None
    sent_score: float | None

    @property
    def change(self) -> str:
        """``new`` (would alert now, was not sent), ``dropped`` (was sent, would not now) or ``same``."""
        if self.sent_score is None:
            return "new"
        return "dropped" if self.score is None else "same"


@dataclass
class BacktestReport:
    """What the current config would have sent for the items since a time, against what was sent."""

    items: int = 0
    skipped: int = 0
    verdicts: list[Verdict] = field(default_factory=list)

    def by_change(self, change: str) -> list[Verdict]:
        """The verdicts of one kind."""
        return [verdict for verdict in self.verdicts if verdict.change == change]

    @property
    def would_alert(self) -> list[Verdict]:
        """Every (item, topic) the current config alerts on."""
        return [verdict for verdict in self.verdicts if verdict.score is not None]


async def stream_range(redis: Redis, stream: str, since: datetime) -> AsyncIterator[tuple[str, str | None]]:
    """Entries of ``stream`` from ``since`` on (entry ids are milliseconds since the epoch), page by page."""
    start = f"{int(since.timestamp() * 1000)}-0"
    while True:
        page: list[tuple[bytes, dict[bytes, bytes] | None]] = await redis.xrange(stream, min=start, max="+", count=PAGE)  # type: ignore[assignment]
        for entry_id, fields in page:
            raw = (fields or {}).get(DATA_FIELD.encode())
            yield _text(entry_id), _text(raw) if raw is not None else None
        if len(page) < PAGE:
            return
        start = "(" + _text(page[-1][0])  # exclusive: the next page starts after the last id seen


async def sent_alerts(redis: Redis, names: StreamNames, since: datetime) -> dict[tuple[str, str], Alert]:
    """Alerts in the alerts stream from ``since`` on, by (item id, topic)."""
    sent: dict[tuple[str, str], Alert] = {}
    async for _entry_id, data in stream_range(redis, names.alerts, since):
        if (alert := alert_or_none(data)) is not None:
            sent[(alert.item.id, alert.topic)] = alert
    return sent


async def backtest(
    redis: Redis,
    names: StreamNames,
    scorer: Scorer,
    since: datetime,
    read_count: int = 256,
    progress: Callable[[int], AbstractContextManager[Progress]] | None = None,
) -> BacktestReport:
    """Re-score every item since ``since`` and compare with the alerts sent for the same items.

    Items are scored as the classifier scores a backlog (``score_in_reads``); ``progress(total)``, if given, makes
    the callback told after each read.
    """
    report = BacktestReport()
    items: dict[str, Item] = {}
    async for _entry_id, data in stream_range(redis, names.items, since):
        try:
            item = Item.from_json(data) if data is not None else None
        except SchemaError:
            item = None
        if item is None:
            report.skipped += 1
            continue
        items[item.id] = item  # the same item published twice is scored once
    report.items = len(items)
    sent = await sent_alerts(redis, names, since)
    now: dict[tuple[str, str], float] = {}
    listed = list(items.values())
    with progress(len(listed)) if progress is not None else nullcontext(None) as told:
        texts, languages = [item.text for item in listed], [item.language for item in listed]
        scores = await asyncio.to_thread(score_in_reads, scorer, texts, read_count, told, languages=languages)
    for item, topic_scores in zip(listed, scores, strict=True):
        now.update({(item.id, s.topic): s.score for s in topic_scores if s.matched})
    for key in sorted(set(now) | {key for key in sent if key[0] in items}, key=lambda k: (k[1], k[0])):
        alert = sent.get(key)
        report.verdicts.append(Verdict(items[key[0]], key[1], now.get(key), alert.score if alert else None))
    return report


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

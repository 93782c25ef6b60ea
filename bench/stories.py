"""bench/stories: how many alerts the default settings send for the dev set's matching items, with and without
story clustering, and how often clustering merged two different events, across similarity thresholds.

Data: a labeled JSONL set with ``id``, ``title``, ``summary``, ``labels``, ``url``, ``published`` (a date) per line,
given as the first argument or $TRIPWIRE_STORIES_DATA (default /work/shared/data/dev.jsonl); skipped if absent.

Items arrive in published order, spread evenly over their day (the set has dates, not times); the outlet is the
id's first dash-separated part. The set has no event labels, so an event is approximated: items labeled with the
topic whose dates are at most a day apart (chained) are one event; a matched item without the topic's label is
an event of its own. A wrong merge is an item joined to a story whose first item belongs to another event.
Baseline (same run): one alert per matching item, which is what clustering off (or ``updates: each``) sends.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

from redis.asyncio import Redis

from services.classifier.embedder import SentenceEmbedder, Vectors
from services.classifier.multilingual import MultilingualEmbedder
from services.classifier.scoring import Scorer
from services.classifier.stories import StoryStore
from shared.config import StorySettings, load_config_file
from shared.redis_server import RedisServer
from shared.schemas import FeedRef, Item
from shared.streams import StreamNames

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path("/work/shared/data/dev.jsonl")
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)
UPDATE_INTERVAL = timedelta(minutes=30)


@dataclass(frozen=True)
class Match:
    """One (item, topic) that reached the topic's threshold."""

    item: Item
    topic: str
    score: float
    vector: Vectors
    at: datetime
    event: str


def load_items(path: Path) -> tuple[list[Item], list[set[str]], list[datetime]]:
    """Items in arrival order, their labels and their simulated arrival times."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda row: (row.get("published") or "", row["id"]))
    per_day: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        per_day[str(row.get("published") or "")[:10]].append(row)
    items, labels, times = [], [], []
    for day, day_rows in per_day.items():
        start = datetime.combine(date.fromisoformat(day) if day else date(2020, 1, 1), datetime.min.time(), UTC)
        step = timedelta(days=1) / len(day_rows)
        for n, row in enumerate(day_rows):
            outlet = str(row["id"]).split("-", 1)[0]
            feed = FeedRef(url=f"http://127.0.0.1/{outlet}.xml", title=outlet)
            at = start + n * step
            items.append(
                Item(
                    id=str(row["id"]),
                    feed=feed,
                    title=str(row["title"]),
                    summary=str(row.get("summary") or ""),
                    link=str(row.get("url") or "") or None,
                    fetched_at=at,
                )
            )
            labels.append(set(row.get("labels") or []))  # type: ignore[call-overload]
            times.append(at)
    return items, labels, times


@cache
def multilingual_embedder() -> MultilingualEmbedder:
    """One USE-m3 for the run; it loads its weights only if a story ever needs the multilingual space."""
    return MultilingualEmbedder()


def proxy_events(topic: str, matches: list[tuple[Item, set[str], datetime]]) -> list[str]:
    """The approximate event of each matched item (see the module docstring)."""
    events: list[str] = []
    current, last_day = 0, None
    for item, labels, at in matches:
        if topic not in labels:
            events.append(f"noise:{item.id}")
            continue
        if last_day is None or (at.date() - last_day).days > 1:
            current += 1
        last_day = at.date()
        events.append(f"{topic}:{current}")
    return events


def find_matches(items: list[Item], labels: list[set[str]], times: list[datetime], scorer: Scorer) -> list[Match]:
    """Every (item, topic) the default topics alert on, in arrival order."""
    scores, vectors = scorer.score_items_with_vectors(items)
    found: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row, topic_scores in enumerate(scores):
        for result in topic_scores:
            if result.matched:
                found[result.topic].append((row, result.score))
    matches = []
    for topic, rows in found.items():
        events = proxy_events(topic, [(items[row], labels[row], times[row]) for row, _ in rows])
        for (row, score), event in zip(rows, events, strict=True):
            matches.append(Match(items[row], topic, score, vectors[row], times[row], event))
    return sorted(matches, key=lambda match: (match.at, match.item.id))


def update_messages(times: list[datetime], day_fraction: float = 1.0) -> int:
    """Messages ``updates: digest`` sends: the first held update opens an interval; the rest ride along.

    ``day_fraction`` squeezes each day's arrivals into its first part (2/24: every outlet within two hours).
    """
    messages, due = 0, None
    midnight = datetime.min.time()
    squeezed = [
        datetime.combine(t.date(), midnight, UTC) + (t - datetime.combine(t.date(), midnight, UTC)) * day_fraction
        for t in times
    ]
    for at in sorted(squeezed):
        if due is None or at >= due:
            messages, due = messages + 1, at + UPDATE_INTERVAL
    return messages


async def cluster(redis: Redis, matches: list[Match], threshold: float) -> tuple[int, int, int, int, int]:
    """New stories, update digests (spread over the day; within 2 h), joins and wrong merges at ``threshold``."""
    await redis.flushdb()
    # With the multilingual model, as the service builds it: English items must group exactly as without it.
    store = StoryStore(redis, StreamNames("bench:"), StorySettings(threshold=threshold), multilingual_embedder())
    first_event: dict[str, str] = {}
    new, joins, wrong = 0, 0, 0
    update_times = []
    for match in matches:
        got = await store.assign(match.topic, match.item, match.vector, match.score, match.at)
        if got.event == "story.new":
            new += 1
            first_event[got.story_id] = match.event
            continue
        joins += 1
        update_times.append(match.at)
        wrong += first_event[got.story_id] != match.event
    return new, update_messages(update_times), update_messages(update_times, 2 / 24), joins, wrong


async def run(path: Path) -> None:
    """Score the set, then cluster it at each threshold and print the table."""
    config = load_config_file(ROOT / "config" / "tripwire.yaml", {})
    items, labels, times = load_items(path)
    scorer = Scorer(config.topics, SentenceEmbedder())
    matches = find_matches(items, labels, times, scorer)
    events = len({match.event for match in matches})
    print(f"{len(items)} items, {len(matches)} matching (item, topic) pairs, {events} approximate events")
    print(f"baseline, no clustering: {len(matches)} alerts (one per matching item)")
    print(
        "threshold  new stories (= updates: none)  digests: spread / 2 h  total: spread / 2 h  ratio  joins"
        "  wrong merges"
    )
    default = StorySettings().threshold
    with RedisServer(appendonly=False) as server:
        redis = Redis.from_url(server.url)
        try:
            for threshold in sorted({*THRESHOLDS, default, 1.0}):
                new, spread, burst, joins, wrong = await cluster(redis, matches, threshold)
                label = f"{threshold:.2f}" + (" *" if threshold == default else "")
                ratio = f"{(new + spread) / max(1, len(matches)):.2f} / {(new + burst) / max(1, len(matches)):.2f}"
                print(
                    f"{label:<10} {new:>29}  {spread:>12} / {burst:<4}  {new + spread:>10} / {new + burst:<4}"
                    f"  {ratio}  {joins:>5}  {wrong:>5} ({wrong / max(1, joins):.0%})"
                )
        finally:
            await redis.aclose()
    print("* the default; 1.00 = same link or title only; total = new stories + update digests")
    print("spread: a day's items arrive evenly over the day; 2 h: within its first two hours; ratio = total / baseline")


def main(argv: list[str] | None = None) -> None:
    """Run on the data set from the argument or $TRIPWIRE_STORIES_DATA; skip with a message if it is absent."""
    args = argv or []  # ``python -m bench stories`` calls main() bare; ``python -m bench.stories PATH`` passes one
    path = Path(args[0] if args else os.environ.get("TRIPWIRE_STORIES_DATA", str(DEFAULT_DATA)))
    if not path.is_file():
        print(f"bench/stories: skipped: no labeled data at {path} (pass a path or set TRIPWIRE_STORIES_DATA)")
        return
    asyncio.run(run(path))


if __name__ == "__main__":
    main(sys.argv[1:])

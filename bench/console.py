"""bench/console: the console's overview and story pages with 100,000 items in the items stream.

Setup (a real redis-server, no network): 100,000 items from 40 feeds in 4 languages spread over 7 days in the
items stream, 5,000 alerts (5%, two topics, in stories of 5 reports, with places) in the alerts stream, the
classifier's hourly counters for all of them (shared/stats.py, written as the classifier writes them), consumer
groups with the classifier 2,000 entries behind, 50 dead letters, the shipped config.

Measured: server time of GET / (the overview) and GET /stories/<id>, in-process through the ASGI app (httpx's
ASGITransport, no sockets), median and p95 over repeated requests. Baseline (same run): the overview's two
charts computed the naive way, by reading and parsing every entry of both streams per request, which is what
the counters replace. Target: the overview under 300 ms server time.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
from redis.asyncio import Redis

from shared.config import TripwireConfig, load_config_file
from shared.redis_server import RedisServer
from shared.schemas import Alert, FeedRef, Item, Place, Reasons, alert_or_none
from shared.stats import count_alerts, count_items
from shared.streams import DATA_FIELD, StreamNames
from tripwire.console.app import create_app
from tripwire.console.data import Entries

ROOT = Path(__file__).resolve().parent.parent
ITEMS, ALERT_EVERY, FEEDS, STORY_SIZE = 100_000, 20, 40, 5
LANGUAGES = ("en", "ar", "ru", "tr")
REQUESTS, NAIVE_REQUESTS = 40, 3
TARGET_MS = 300.0


def _item(n: int, at: datetime) -> Item:
    feed = FeedRef(url=f"https://outlet{n % FEEDS}.example/rss", title=f"Outlet {n % FEEDS}")
    return Item(
        id=f"item-{n}", feed=feed, title=f"Convoy report number {n} near Qamishli and Derik",
        summary="Armoured vehicles of both armies met on the road east of the town; officials gave no numbers. " * 2,
        link=f"https://outlet{n % FEEDS}.example/a/{n}", published=at, fetched_at=at,
        language=LANGUAGES[n % len(LANGUAGES)],
    )  # fmt: skip


def _alert(n: int, item: Item, at: datetime) -> Alert:
    topic = ("us_russia_standoff", "joint_patrol")[n % 2]
    story = n // (ALERT_EVERY * STORY_SIZE)
    reasons = Reasons(score=0.7, threshold=0.6, keywords=["convoy"], nearest_example="A standoff near Derik.")
    return Alert(
        id=f"alert-{n}", item=item, topic=topic, score=0.6 + (n % 40) / 100, reasons=reasons, created_at=at,
        story_id=f"story{story}", event="story.new" if n % (ALERT_EVERY * STORY_SIZE) == 0 else "story.update",
        story_sources=1 + (n // ALERT_EVERY) % STORY_SIZE, story_title=item.title,
        places=[Place(name="Qamishli", lat=37.05, lon=41.22), Place(name="Derik", lat=37.06, lon=42.18)],
    )  # fmt: skip


async def seed(redis: Redis, names: StreamNames, now: datetime) -> str:
    """Fill the streams and counters; returns the id of a story in the newest alerts."""
    start = now - timedelta(days=7)
    step = timedelta(days=7) / ITEMS
    last_story = ""
    for chunk in range(0, ITEMS, 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(chunk, min(chunk + 2000, ITEMS)):
                at = start + n * step
                item = _item(n, at)
                pipe.xadd(names.items, {DATA_FIELD: item.to_json()}, id=f"{int(at.timestamp() * 1000)}-{n}")
                count_items(pipe, names, [item], at)
                if n % ALERT_EVERY == 0:
                    alert = _alert(n, item, at)
                    pipe.xadd(names.alerts, {DATA_FIELD: alert.to_json()}, id=f"{int(at.timestamp() * 1000)}-{n}")
                    count_alerts(pipe, names, [alert.topic], at)
                    last_story = alert.story_id or last_story
            await pipe.execute()
    entries = cast(Entries, await redis.xrevrange(names.items, count=2001))
    await redis.xgroup_create(names.items, "classifier", id=entries[-1][0])  # 2,000 entries behind
    await redis.xgroup_create(names.alerts, "notifier", id="$")
    for n in range(50):
        await redis.xadd(names.dlq, {DATA_FIELD: json.dumps({"kind": "delivery", "n": n})})
    return last_story


async def _all_entries(redis: Redis, stream: str, page: int = 5000) -> Entries:
    """Every entry of ``stream``, read in pages (one XRANGE of 100,000 entries can outlast a socket timeout)."""
    entries: Entries = []
    start = "-"
    while True:
        chunk = cast(Entries, await redis.xrange(stream, min=start, count=page))
        entries += chunk
        if len(chunk) < page:
            return entries
        start = "(" + chunk[-1][0].decode()


async def naive_overview(redis: Redis, names: StreamNames) -> int:
    """The overview's charts from the streams themselves: every entry read and parsed (the baseline)."""
    per_hour: dict[tuple[str, str], int] = {}
    per_feed: dict[tuple[str, str], int] = {}
    for _, fields in await _all_entries(redis, names.alerts):
        alert = alert_or_none(fields.get(DATA_FIELD.encode()))
        if alert is not None:
            key = (alert.topic, alert.created_at.strftime("%Y%m%d%H"))
            per_hour[key] = per_hour.get(key, 0) + 1
    for _, fields in await _all_entries(redis, names.items):
        item = Item.from_json(fields[DATA_FIELD.encode()])
        key = (item.feed.url, item.language or "unknown")
        per_feed[key] = per_feed.get(key, 0) + 1
    return len(per_hour) + len(per_feed)


async def _timed(client: httpx.AsyncClient, path: str, times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return samples


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(samples):7.1f} ms, p95 {p95:7.1f} ms"


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return time.monotonic()


async def run(config: TripwireConfig) -> None:
    """Seed, then time the pages and the naive baseline."""
    names = StreamNames.of(config.redis)
    now = datetime.now(UTC).replace(microsecond=0)
    with RedisServer(appendonly=False) as server:
        redis = Redis.from_url(server.url)
        try:
            started = time.perf_counter()
            story = await seed(redis, names, now)
            print(f"seeded {await redis.xlen(names.items)} items, {await redis.xlen(names.alerts)} alerts "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip

            def no_model() -> object:
                raise AssertionError("the overview must not load the model")

            app = create_app(config, redis, _Clock(now), "bench-session-secret-0123456789", no_model)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
                await _timed(client, "/", 3)  # warm: templates compiled, connections open
                overview = await _timed(client, "/", REQUESTS)
                story_page = await _timed(client, f"/stories/{story}", REQUESTS // 4)
            naive = []
            for _ in range(NAIVE_REQUESTS):
                begun = time.perf_counter()
                await naive_overview(redis, names)
                naive.append((time.perf_counter() - begun) * 1000)
        finally:
            await redis.aclose()
    median = statistics.median(overview)
    print(f"GET / (overview, counters):        {_figures(overview)}  ({REQUESTS} requests)")
    print(f"GET /stories/<id> (2,000 alerts):  {_figures(story_page)}  ({len(story_page)} requests)")
    print(f"baseline, charts from the streams: {_figures(naive)}  ({NAIVE_REQUESTS} runs, charts only)")
    verdict = "met" if median < TARGET_MS else "MISSED"
    print(f"overview vs baseline: {statistics.median(naive) / median:.0f}x faster; "
          f"target {TARGET_MS:.0f} ms: {verdict} (median {median:.1f} ms)")  # fmt: skip


def main() -> None:
    """Run the benchmark with the shipped config."""
    asyncio.run(run(load_config_file(ROOT / "config" / "tripwire.yaml", {})))


if __name__ == "__main__":
    main()

"""bench/redis_memory: bytes per item in Redis, per structure, after 10k, 100k and 1M synthetic items.

Poller path: ``ItemPublisher.publish_many`` (the seen buckets and the items stream, one script per item, 1,000 per
pipeline), items spread evenly over 30 days (the default seen_ttl) so every bucket is in use. Classifier path:
1% of the items match a topic (4 topics) and go through ``StoryStore.assign`` (ten items per story, 384-d vectors)
and are published to the alerts stream. Baseline (same run, same ids): the per-id seen marker the poller wrote
before (``SET seen:<id> 1 NX EX ttl``), measured as the growth of used_memory.

Bytes come from MEMORY USAGE (all elements sampled) summed over each structure's keys. The streams are capped by
redis.maxlen (100k), so their bytes per item fall once they are full: they are bounded, not per item.
Options: ``--sizes 10000,100000`` to run fewer or other sizes.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from redis.asyncio import Redis

from services.classifier.stories import StoryStore
from services.poller.publish import ItemPublisher
from shared.config import StorySettings
from shared.redis_server import RedisServer
from shared.schemas import Alert, FeedRef, Item, Reasons
from shared.streams import StreamNames, publish

SIZES: tuple[int, ...] = (10_000, 100_000, 1_000_000)
TTL = 30 * 86400
MAXLEN = 100_000
BATCH = 1000
MATCH_EVERY = 100
PER_STORY = 10
TOPICS = ("standoff", "patrols", "border", "airspace")
START = datetime(2026, 11, 1, tzinfo=UTC)
NAMES = StreamNames("tripwire:")


class StepClock:
    """A wall clock the bench moves forward item by item."""

    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()


def synthetic_item(n: int, at: datetime) -> Item:
    """The n-th item: 200 feeds, a 60-character title, a link."""
    feed = f"http://127.0.0.1/feed-{n % 200}.xml"
    item_id = hashlib.sha256(f"link:http://127.0.0.1/a/{n}".encode()).hexdigest()[:32]
    title = f"Synthetic report {n:08d} about a convoy seen near a road"
    return Item(id=item_id, feed=FeedRef(url=feed), title=title, link=f"http://127.0.0.1/a/{n}", fetched_at=at)


async def usage(redis: Redis, pattern: str) -> tuple[int, int]:
    """(bytes, keys) of every key matching ``pattern``."""
    total = keys = 0
    async for key in redis.scan_iter(match=pattern, count=1000):
        total += int(await redis.memory_usage(key, samples=0) or 0)
        keys += 1
    return total, keys


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def poller_path(redis: Redis, size: int) -> float:
    """Publish ``size`` items over 30 days; returns the seconds it took."""
    clock = StepClock()
    publisher = ItemPublisher(redis, NAMES, seen_ttl=TTL, maxlen=MAXLEN, clock=clock)
    step = timedelta(seconds=TTL / size)
    # A classifier that keeps up: its group acks each batch (untimed), so back-pressure lets the poller trim the
    # acked entries and the stream stays at MAXLEN, as in a healthy deployment.
    await redis.xgroup_create(NAMES.items, "classifier", id="0", mkstream=True)
    elapsed = 0.0
    for first in range(0, size, BATCH):
        clock.at = START + step * first
        started = time.perf_counter()
        published = await publisher.publish_many([synthetic_item(n, clock.at) for n in range(first, first + BATCH)])
        elapsed += time.perf_counter() - started
        assert published.published == min(BATCH, size - first), f"a synthetic id was taken as seen: {published}"
        await classifier_acks(redis)
    return elapsed


async def classifier_acks(redis: Redis) -> None:
    """Read and ack everything new in the items stream, as the classifier's group would."""
    reply: list[Any] = await redis.xreadgroup("classifier", "bench", {NAMES.items: ">"}, count=10 * BATCH)  # type: ignore[assignment]
    ids = [entry_id for _stream, entries in reply for entry_id, _fields in entries]
    if ids:
        await redis.xack(NAMES.items, "classifier", *ids)


async def classifier_path(redis: Redis, size: int) -> int:
    """Assign every MATCH_EVERY-th item to a story and publish its alert; returns how many matched."""
    store = StoryStore(redis, NAMES, StorySettings(threshold=0.8))
    rng = np.random.default_rng(7)
    matched = 0
    for n in range(0, size, MATCH_EVERY):
        group = matched // PER_STORY
        topic = TOPICS[group % len(TOPICS)]
        at = START + timedelta(seconds=n)
        item = synthetic_item(n, at).model_copy(update={"title": f"Story {group} headline"})  # same title: joins
        vector = rng.standard_normal(384).astype(np.float32)
        await store.assign(topic, item, vector / np.linalg.norm(vector), 0.9, at)
        alert = Alert(
            id=f"alert-{n}", item=item, topic=topic, score=0.9, reasons=Reasons(score=0.9, threshold=0.5), created_at=at
        )
        await publish(redis, NAMES.alerts, alert.to_json(), MAXLEN)
        matched += 1
    return matched


async def legacy_markers(redis: Redis, size: int) -> int:
    """Bytes the old per-id marker keys take for the same ids (growth of used_memory)."""
    await redis.flushall()
    before = await used_memory(redis)
    for first in range(0, size, BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(first, min(size, first + BATCH)):
                pipe.set(NAMES.key("seen", synthetic_item(n, START).id), "1", nx=True, ex=TTL)
            await pipe.execute()
    return await used_memory(redis) - before


# The publish script before the buckets (a marker key per id), to compare publish rates in the same run.
_MARKER_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
  return 1
end
return 0
"""


async def publish_rates(redis: Redis, count: int = 20_000) -> None:
    """Items/s through the bucket script and the marker script: new ids, then the same ids again (all seen)."""
    marker = redis.register_script(_MARKER_SCRIPT)
    items = [synthetic_item(n, START) for n in range(count)]

    async def with_markers() -> None:
        for first in range(0, count, BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for item in items[first : first + BATCH]:
                    keys = [NAMES.key("seen", item.id), NAMES.items]
                    await marker(keys=keys, args=[TTL, MAXLEN, "data", item.to_json()], client=pipe)
                await pipe.execute()

    async def with_buckets() -> None:
        publisher = ItemPublisher(redis, NAMES, seen_ttl=TTL, maxlen=MAXLEN, clock=StepClock())
        for first in range(0, count, BATCH):
            await publisher.publish_many(items[first : first + BATCH])

    rates = {}
    for name, run in (("markers", with_markers), ("buckets", with_buckets)):
        await redis.flushall()
        for phase in ("new", "seen"):
            started = time.perf_counter()
            await run()
            rates[name, phase] = count / (time.perf_counter() - started)
    for phase in ("new", "seen"):
        print(
            f"publish rate, {phase} ids: buckets {rates['buckets', phase]:,.0f} items/s, markers (baseline) "
            f"{rates['markers', phase]:,.0f} items/s, ratio {rates['buckets', phase] / rates['markers', phase]:.2f}"
        )


async def measure(redis: Redis, size: int) -> None:
    await redis.flushall()
    seconds = await poller_path(redis, size)
    matched = await classifier_path(redis, size)
    seen, buckets = await usage(redis, NAMES.key("seen", "*"))
    items, _ = await usage(redis, NAMES.items)
    alerts, _ = await usage(redis, NAMES.alerts)
    story_bytes, story_keys = await usage(redis, NAMES.key("stor*"))
    legacy = await legacy_markers(redis, size)
    print(f"{size:>9,} items, published at {size / seconds:,.0f} items/s:", flush=True)
    print(f"    seen buckets     {seen / size:7.1f} B per remembered id ({buckets} sets)")
    print(f"    baseline markers {legacy / size:7.1f} B per remembered id (key per id); ratio {seen / legacy:.2f}")
    print(f"    items stream     {items / size:7.1f} B per item ({items / 2**20:.1f} MiB; capped at maxlen)")
    print(f"    stories          {story_bytes / matched:7.0f} B per matched item ({matched:,}; {story_keys} keys)")
    print(f"    alerts stream    {alerts / matched:7.0f} B per alert", flush=True)


async def run(sizes: tuple[int, ...]) -> None:
    with RedisServer(appendonly=False) as server:
        redis = Redis.from_url(server.url)
        try:
            await publish_rates(redis)
            for size in sizes:
                await measure(redis, size)
        finally:
            await redis.aclose()


def main(arguments: list[str] | None = None) -> None:
    """Print bytes per item per structure for each size."""
    args = arguments or []
    sizes = SIZES
    if "--sizes" in args:
        sizes = tuple(int(part) for part in args[args.index("--sizes") + 1].split(","))
    print("bench/redis_memory: bytes per item per structure (MEMORY USAGE); baseline: per-id seen markers")
    asyncio.run(run(sizes))


if __name__ == "__main__":
    main(sys.argv[1:])

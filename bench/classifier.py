"""bench/classifier: items/s through the classifier service (items stream in, alerts stream out, on a real Redis)
against raw ``model.encode`` on the same texts with the same batch size in the same run; per-item latency at low
load; peak memory.

The texts are the shipped labeled set (data/eval/topics.jsonl), repeated. Two baselines are printed: encoding
the units the scorer needs (whole text and sentences: the same model work as the service, so the ratio shows
the service's own overhead) and encoding the item texts alone (what a whole-text-only scorer would need).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from services.classifier.embedder import SentenceEmbedder
from services.classifier.evaluation import load_labeled
from services.classifier.scoring import Scorer, text_units
from services.classifier.service import Classifier
from shared.config import TripwireConfig, load_config_file
from shared.redis_server import RedisServer
from shared.schemas import FeedRef, Item
from shared.streams import DATA_FIELD, StreamNames

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 1
ROUNDS = 5  # interleaved, best of each: the machine is shared, so a single pass mostly measures its neighbours
LATENCY_SAMPLES = 10


def _items(texts: list[tuple[str, str]], tag: str) -> list[Item]:
    now = datetime.now(UTC)
    feed = FeedRef(url="http://127.0.0.1/bench.xml")
    return [
        Item(id=f"{tag}-{n}", feed=feed, title=title, summary=summary, fetched_at=now)
        for n, (title, summary) in enumerate(texts)
    ]


def raw_encode_rate(embedder: SentenceEmbedder, texts: list[str]) -> float:
    """Texts per second through one ``model.encode`` call over all of them (it sorts by length into batches)."""
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def units_encode_rate(embedder: SentenceEmbedder, texts: list[str]) -> float:
    """Items per second when encoding, in one call, every unit the exact scorer needs (no scoring, no Redis)."""
    started = time.perf_counter()
    embedder.encode([unit for text in texts for unit in text_units(text)])
    return len(texts) / (time.perf_counter() - started)


async def service_rate(config: TripwireConfig, redis: Redis, scorer: Scorer, items: list[Item]) -> tuple[float, int]:
    """Items per second from a full items stream to the drained classifier; and the alerts published."""
    names = StreamNames.of(config.redis)
    await redis.flushdb()
    pipe = redis.pipeline(transaction=False)
    for item in items:
        pipe.xadd(names.items, {DATA_FIELD: item.to_json()})
    await pipe.execute()
    classifier = Classifier(config, redis, scorer, "bench")
    started = time.perf_counter()
    done = await classifier.run(asyncio.Event(), drain=True)
    elapsed = time.perf_counter() - started
    assert done == len(items), (done, len(items))
    return len(items) / elapsed, int(await redis.xlen(names.alerts))


async def latencies(config: TripwireConfig, redis: Redis, scorer: Scorer, items: list[Item]) -> list[float]:
    """Seconds from XADD of one lone item to its alert in the alerts stream, with the service running."""
    names = StreamNames.of(config.redis)
    await redis.flushdb()
    stop = asyncio.Event()
    task = asyncio.create_task(Classifier(config, redis, scorer, "bench-latency").run(stop))
    seen, results = "$", []
    for item in items:
        started = time.perf_counter()
        await redis.xadd(names.items, {DATA_FIELD: item.to_json()})
        reply: list[tuple[bytes, list[tuple[bytes, object]]]] = await redis.xread(
            {names.alerts: seen}, count=1, block=30_000
        )  # type: ignore[assignment]
        results.append(time.perf_counter() - started)
        seen = reply[0][1][-1][0].decode() if reply else seen
    stop.set()
    await task
    return results


async def _run() -> None:
    config = load_config_file(ROOT / "config" / "tripwire.yaml", {})
    batch_size = config.classifier.batch_size
    labeled = load_labeled(ROOT / "data" / "eval" / "topics.jsonl") * REPEAT
    texts = [item.text for item in labeled]
    load_started = time.perf_counter()
    embedder = SentenceEmbedder(config.classifier.model_path, batch_size)
    scorer = Scorer(config.topics, embedder)
    print(f"model + example embeddings loaded in {time.perf_counter() - load_started:.1f} s")
    embedder.encode(texts[:batch_size])  # warm-up, excluded from every figure
    units = sum(len(text_units(text)) for text in texts)
    print(f"{len(texts)} items ({units} units: whole text + sentences), batch size {batch_size}")

    raw_texts = raw_units = rate = 0.0
    with RedisServer(appendonly=False) as server:
        redis = Redis.from_url(server.url)
        try:
            everything = _items([(i.title, i.summary) for i in labeled], "t")
            for _round in range(ROUNDS):
                # In a worker thread, as the service encodes, so both sides run the model the same way.
                raw_texts = max(raw_texts, await asyncio.to_thread(raw_encode_rate, embedder, texts))
                raw_units = max(raw_units, await asyncio.to_thread(units_encode_rate, embedder, texts))
                round_rate, alerts = await service_rate(config, redis, scorer, everything)
                rate = max(rate, round_rate)
            alerting = [i for i in labeled if i.labels][:LATENCY_SAMPLES]
            lone = await latencies(config, redis, scorer, _items([(i.title, i.summary) for i in alerting], "l"))
        finally:
            await redis.aclose()
    print(f"best of {ROUNDS} interleaved rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"raw model.encode, item texts only:        {raw_texts:7.1f} items/s")
    print(f"raw model.encode, units the scorer needs: {raw_units:7.1f} items/s")
    print(f"service (items stream -> alerts stream):  {rate:7.1f} items/s ({alerts} alerts)")
    print(f"ratio service / raw encode of the same units: {rate / raw_units:.2f}")
    print(f"ratio service / raw encode of item texts only: {rate / raw_texts:.2f}")
    print(
        f"latency of a lone item to its alert: median {statistics.median(lone) * 1000:.0f} ms, "
        f"max {max(lone) * 1000:.0f} ms over {len(lone)} items"
    )
    print(f"peak memory (max RSS of this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    """Run the benchmark and print its figures."""
    asyncio.run(_run())

"""Consumer mechanics on a real Redis (7 and 6.2): poison entries, trimmed entries, takeover, graceful stop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from shared.config import StreamSettings
from shared.stream_consume import consume, ensure_group
from shared.streams import StreamConsumer, StreamEntry, publish
from tests.reliability.support import await_until

STREAM, GROUP, DLQ = "t:items", "g", "t:dlq"


def settings(**overrides: float) -> StreamSettings:
    """Fast recovery settings for tests."""
    values = {"reclaim_idle": 0.05, "sweep_interval": 0.05, "max_deliveries": 3, "shutdown_grace": 5.0}
    return StreamSettings.model_validate(values | overrides)


def consumer(redis: Redis, name: str, **overrides: float) -> StreamConsumer:
    """A consumer of the test stream with fast settings."""
    return StreamConsumer(redis, STREAM, GROUP, name, count=8, block_ms=50, settings=settings(**overrides))


def metric(name: str, **labels: str) -> float:
    """Current value of a metric sample (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def fill(redis: Redis, count: int) -> list[str]:
    """Create the group and publish ``count`` entries whose data is their number."""
    await ensure_group(redis, STREAM, GROUP)
    return [await publish(redis, STREAM, json.dumps(n), maxlen=10_000) for n in range(count)]


async def pending_count(redis: Redis) -> int:
    """Entries of the group read but not acked."""
    return int((await redis.xpending(STREAM, GROUP))["pending"])


async def test_poison_entry_is_dead_lettered_with_its_error_and_neighbours_survive(any_redis: Redis) -> None:
    await fill(any_redis, 6)
    handled: list[int] = []

    async def handle(entries: list[StreamEntry]) -> Sequence[str]:
        numbers = [json.loads(entry.data or "null") for entry in entries]
        if 3 in numbers:
            raise ValueError("cannot parse entry 3")
        handled.extend(numbers)
        return [entry.id for entry in entries]

    before = metric("tripwire_dead_letters_total", source=STREAM)
    reader = consumer(any_redis, "c1")
    await consume(reader, handle, asyncio.Event(), drain=True, retry_delay=0)

    assert sorted(handled) == [0, 1, 2, 4, 5]  # the batch-mates of the poison entry are not dead-lettered
    letters = await any_redis.xrange(DLQ)
    assert len(letters) == 1
    record = json.loads(letters[0][1][b"data"])
    assert record["source"] == STREAM
    assert record["data"] == "3"
    assert record["deliveries"] == 4
    assert "cannot parse entry 3" in record["error"]
    assert await pending_count(any_redis) == 0
    assert metric("tripwire_dead_letters_total", source=STREAM) == before + 1


async def test_entry_that_keeps_crashing_its_consumer_is_dead_lettered_on_restart(any_redis: Redis) -> None:
    ids = await fill(any_redis, 2)
    # A consumer read both, then crashed three more times while re-reading the first one.
    await any_redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=2)
    for _ in range(3):
        await any_redis.xreadgroup(GROUP, "c1", {STREAM: "0"}, count=1)
    handled: list[str] = []

    async def handle(entries: list[StreamEntry]) -> Sequence[str]:
        handled.extend(entry.id for entry in entries)
        return [entry.id for entry in entries]

    await consume(consumer(any_redis, "c1"), handle, asyncio.Event(), drain=True)

    assert handled == [ids[1]]
    (record,) = [json.loads(fields[b"data"]) for _id, fields in await any_redis.xrange(DLQ)]
    assert record["entry_id"] == ids[0]
    assert "not acknowledged after 5 deliveries" in record["error"]
    assert await pending_count(any_redis) == 0


@pytest.mark.parametrize("takeover", [False, True], ids=["own", "taken-over"])
async def test_entry_trimmed_while_pending_is_acked_and_counted(any_redis: Redis, takeover: bool) -> None:
    ids = await fill(any_redis, 4)
    await any_redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=4)
    await any_redis.xdel(STREAM, ids[0], ids[2])  # as MAXLEN trimming or an operator would
    handled: list[str] = []

    async def handle(entries: list[StreamEntry]) -> Sequence[str]:
        assert all(entry.data is not None for entry in entries)
        handled.extend(entry.id for entry in entries)
        return [entry.id for entry in entries]

    before = metric("tripwire_entries_trimmed_total", stream=STREAM)
    name = "c2" if takeover else "c1"
    if takeover:
        await await_until(_idle_past(any_redis, 0.05), 5, "entries idle past the reclaim bound")
    await consume(consumer(any_redis, name), handle, asyncio.Event(), drain=True)

    assert sorted(handled) == [ids[1], ids[3]]
    assert metric("tripwire_entries_trimmed_total", stream=STREAM) == before + 2
    assert await pending_count(any_redis) == 0


async def test_entries_of_a_dead_consumer_are_taken_over(any_redis: Redis) -> None:
    ids = await fill(any_redis, 100)
    await any_redis.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=100)  # ... and it never comes back
    handled: list[str] = []

    async def handle(entries: list[StreamEntry]) -> Sequence[str]:
        handled.extend(entry.id for entry in entries)
        return [entry.id for entry in entries]

    before = metric("tripwire_entries_reclaimed_total", stream=STREAM)
    stop = asyncio.Event()
    task = asyncio.create_task(consume(consumer(any_redis, "alive"), handle, stop))
    await await_until(lambda: _true(len(handled) >= 100), 30, "all 100 entries taken over")
    stop.set()
    await task

    assert sorted(handled) == sorted(ids)
    assert await pending_count(any_redis) == 0
    assert metric("tripwire_entries_reclaimed_total", stream=STREAM) == before + 100


@pytest.mark.parametrize("finishes", [True, False], ids=["within-grace", "past-grace"])
async def test_stop_mid_batch_acks_only_what_is_done(any_redis: Redis, finishes: bool) -> None:
    ids = await fill(any_redis, 3)
    started, release = asyncio.Event(), asyncio.Event()

    async def handle(entries: list[StreamEntry]) -> Sequence[str]:
        started.set()
        await release.wait()
        return [entry.id for entry in entries]

    stop = asyncio.Event()
    reader = consumer(any_redis, "c1", shutdown_grace=5.0 if finishes else 0.05)
    task = asyncio.create_task(consume(reader, handle, stop))
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    if finishes:
        release.set()
    acked = await asyncio.wait_for(task, 10)

    assert acked == (3 if finishes else 0)
    assert await pending_count(any_redis) == (0 if finishes else len(ids))


def _idle_past(redis: Redis, seconds: float):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        rows = await redis.xpending_range(STREAM, GROUP, min="-", max="+", count=100)
        return all(row["time_since_delivered"] > seconds * 1000 for row in rows)

    return check


async def _true(value: bool) -> bool:
    return value

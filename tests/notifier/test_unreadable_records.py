"""One delivery record this build cannot read (issue 26, item 6): it is dead-lettered alone, with its raw form and
the reason, and the rest of its batch is sent; the worker stays healthy. Real Redis, a real receiver."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis

from services.notifier.routing import delivery_id
from services.notifier.store import DeadLetters
from shared.config import TripwireConfig
from tests.notifier.support import PREFIX, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tests.notifier.test_exactly_once import alert_numbers
from tripwire.local_http import LocalServer, Reply


async def test_a_record_from_a_newer_replica_is_dead_lettered_alone_and_the_batch_is_sent(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Issue 26's reproduction 6: a rolling upgrade leaves one record whose message is schema v99 among two this build
    # reads. Before: SchemaError on every turn, 0 of 2 sent, nothing dead-lettered, Redis reported down.
    with LocalServer(lambda _r: Reply(204)) as hooks:
        config = notifier_config(default_config, [sub("hook", f"{hooks.url}/hook")], poll_interval=0.01)
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, *(make_alert(n) for n in (1, 2, 3)))
        # Schedule the three without sending them (the worker is not running yet), then make one unreadable.
        await redis.xgroup_create(PREFIX + "alerts", "notifier", id="0", mkstream=True)
        await notifier.consumer.ack(await notifier.handle(await notifier.consumer.read(block=False)))
        newer = delivery_id(make_alert(2).id, "hook")
        doc = json.loads(await redis.hget(PREFIX + "deliveries", newer))
        doc["messages"][0]["v"] = 99
        raw = json.dumps(doc)
        await redis.hset(PREFIX + "deliveries", newer, raw)

        notifier.health.set_redis_ok(True)  # as the service's Redis watcher reports it
        stop = asyncio.Event()
        worker = asyncio.create_task(notifier.worker.run(stop))
        try:
            for _ in range(500):  # real time for the worker's loop and the receiver's thread
                if len(hooks.requests) >= 2 and await redis.zcard(PREFIX + "delivery_schedule") == 0:
                    break
                await asyncio.sleep(0.01)
            healthy = notifier.health.redis_ok
        finally:
            stop.set()
            await worker
        sent = alert_numbers(hooks.requests)
    assert sorted(sent) == [1, 3], f"sent {sent}: the two readable deliveries, once each"
    assert healthy, "one bad record is not Redis being down"
    [(_entry, fields)] = await redis.xrange(PREFIX + "dlq")
    letter = json.loads(fields[b"data"])
    assert letter["delivery_id"] == newer and letter["raw"] == raw
    assert "schema version 99" in letter["reason"] and letter["retryable"] is False
    assert await redis.get(PREFIX + f"delivery:{newer}") == b"dead"
    assert await redis.hlen(PREFIX + "deliveries") == 0

    # After the upgrade: a build that reads v99 replays it. Here the record is put back as it was stored (replaying
    # never parses it, so it cannot fail), and this build dead-letters it again, alone.
    letters = DeadLetters(notifier.store)
    [stored] = await letters.entries()
    assert stored.is_delivery
    assert await letters.replay(stored, 0) == newer
    assert await redis.hget(PREFIX + "deliveries", newer) == raw.encode()
    await notifier.worker.drain()
    [(_entry, fields)] = await redis.xrange(PREFIX + "dlq")
    assert json.loads(fields[b"data"])["raw"] == raw


async def test_a_record_that_is_not_json_is_dead_lettered_with_its_raw_text(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as hooks:
        config = notifier_config(default_config, [sub("hook", f"{hooks.url}/hook")])
        notifier = make_notifier(config, redis, http, FakeClock())
        await publish_messages(redis, make_alert(1), make_alert(2))
        await redis.xgroup_create(PREFIX + "alerts", "notifier", id="0", mkstream=True)
        await notifier.consumer.ack(await notifier.handle(await notifier.consumer.read(block=False)))
        broken = delivery_id(make_alert(1).id, "hook")
        await redis.hset(PREFIX + "deliveries", broken, "{not json")
        await notifier.worker.drain()
        sent = alert_numbers(hooks.requests)
    assert sent == [2]
    [(_entry, fields)] = await redis.xrange(PREFIX + "dlq")
    letter = json.loads(fields[b"data"])
    assert letter["delivery_id"] == broken and letter["raw"] == "{not json"
    assert letter["reason"].startswith("unreadable delivery record")
    assert await redis.zcard(PREFIX + "delivery_schedule") == 0

"""Nothing is lost and nothing is sent twice when the notifier dies at the worst moments."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis

from shared.config import TripwireConfig
from tests.notifier.support import PREFIX, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply


async def test_crash_after_scheduling_before_ack_sends_once(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")])
        clock = FakeClock()
        await publish_messages(redis, make_alert(1))
        first = make_notifier(config, redis, http, clock)
        await redis.xgroup_create(PREFIX + "alerts", "notifier", id="0")
        entries = await first.consumer.read(block=False)
        await first.handle(entries)  # scheduled; the process "dies" before the ack and before sending
        second = make_notifier(config, redis, http, clock)  # same consumer name: re-reads its pending entries
        await second.run(asyncio.Event(), drain=True)
    assert len(server.requests) == 1
    assert (await redis.xpending(PREFIX + "alerts", "notifier"))["pending"] == 0


async def test_crash_while_sending_is_retried_after_the_lease_with_the_same_id(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")], lease=60)
        clock = FakeClock()
        await publish_messages(redis, make_alert(1))
        notifier = make_notifier(config, redis, http, clock)
        # Schedule only (as the consumer does), then claim without settling: a worker that died mid-send.
        await redis.xgroup_create(PREFIX + "alerts", "notifier", id="0")
        entries = await notifier.consumer.read(block=False)
        await notifier.consumer.ack(await notifier.handle(entries))
        claimed = await notifier.store.claim(await notifier.store.leases.peek_due(10), 60)
        assert len(claimed) == 1
        # The worker recorded "send started", then died: the receiver may have the request.
        assert await notifier.store.leases.extend(claimed[0][0], 60, send_starts=True)
        await notifier.worker.drain()
        assert server.requests == [], "a claimed delivery is not sent again while its lease runs"
        clock.advance(60)
        await notifier.worker.drain()
    assert len(server.requests) == 1
    assert server.requests[0].headers["webhook-id"] == claimed[0][1].delivery.id

"""Delivery semantics on a real Redis and real receivers: once per subscription, retries, dead letters, 410."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis
from standardwebhooks import Webhook

from services.notifier.store import DeadLetters
from shared.config import TripwireConfig
from shared.metrics import UNROUTED
from tests.notifier.support import (
    PREFIX,
    SECRET,
    FakeClock,
    make_alert,
    make_health_event,
    make_notifier,
    notifier_config,
    publish_messages,
    refused_url,
    sequence,
    sub,
)  # fmt: skip
from tripwire.local_http import LocalServer, Reply


@pytest.fixture
def ok_receiver() -> Iterator[LocalServer]:
    """A receiver that accepts everything."""
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        yield server


async def pending(redis: Redis) -> int:
    """Alerts entries read but not acked."""
    return int((await redis.xpending(PREFIX + "alerts", "notifier"))["pending"])


async def test_each_subscriber_gets_each_alert_once_even_when_read_twice(
    redis: Redis, http: httpx.AsyncClient, ok_receiver: LocalServer, default_config: TripwireConfig
):
    config = notifier_config(
        default_config, [sub("hook", f"{ok_receiver.url}/hook"), sub("chat", f"{ok_receiver.url}/slack", "slack")]
    )
    clock = FakeClock()
    alert = make_alert(1)
    await publish_messages(redis, alert, alert)  # the same alert twice, as after a reclaim
    notifier = make_notifier(config, redis, http, clock)
    await notifier.run(asyncio.Event(), drain=True)
    # A restart reads everything again (a new consumer group position is not needed to prove it: re-publish).
    await publish_messages(redis, alert)
    await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)

    paths = sorted(request.path for request in ok_receiver.requests)
    assert paths == ["/hook", "/slack"]
    hook = next(r for r in ok_receiver.requests if r.path == "/hook")
    assert Webhook(SECRET).verify(hook.body, hook.headers)["data"]["id"] == alert.id
    assert await pending(redis) == 0


async def test_failing_endpoint_does_not_block_others_and_retries_with_the_same_id(
    redis: Redis, http: httpx.AsyncClient, ok_receiver: LocalServer, default_config: TripwireConfig
):

    flaky = LocalServer(sequence(Reply(500, b"boom"), Reply(500, b"boom"), Reply(200))).start()
    try:
        config = notifier_config(default_config, [sub("flaky", f"{flaky.url}/h"), sub("good", f"{ok_receiver.url}/h")])
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, make_alert(1), make_alert(2))
        await notifier.run(asyncio.Event(), drain=True)
        # The good endpoint got both alerts at once; the entries are acked although two deliveries wait for a retry.
        assert len(ok_receiver.requests) == 2
        assert await pending(redis) == 0
        assert await notifier.store.schedule_size() == 2
        await notifier.worker.drain()
        assert len(flaky.requests) == 2, "nothing is retried before its due time"
        clock.advance(5)
        await notifier.worker.drain()
    finally:
        flaky.stop()
    assert len(flaky.requests) == 4
    ids = [r.headers["webhook-id"] for r in flaky.requests]
    assert sorted(ids[:2]) == sorted(ids[2:]), "a retry keeps its webhook-id"
    for request in flaky.requests:
        Webhook(SECRET).verify(request.body, request.headers)
    assert await notifier.store.schedule_size() == 0
    assert await DeadLetters(notifier.store).entries() == []


async def test_retry_after_is_honoured(redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig):

    with LocalServer(sequence(Reply(429, headers={"Retry-After": "100"}), Reply(200))) as server:
        config = notifier_config(default_config, [sub("busy", f"{server.url}/h", "slack")])
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, make_alert(1))
        await notifier.run(asyncio.Event(), drain=True)
        clock.advance(99)
        await notifier.worker.drain()
        assert len(server.requests) == 1
        clock.advance(1)
        await notifier.worker.drain()
        assert len(server.requests) == 2
    assert await notifier.store.schedule_size() == 0


async def test_exhausted_retries_and_permanent_errors_are_dead_lettered(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):

    with LocalServer(lambda _r: Reply(503)) as down, LocalServer(lambda _r: Reply(400, b"invalid_payload")) as bad:
        config = notifier_config(default_config, [sub("down", f"{down.url}/h"), sub("bad", f"{bad.url}/h", "slack")])
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, make_alert(1))
        await notifier.run(asyncio.Event(), drain=True)
        for delay in (5, 30, 120):
            clock.advance(delay)
            await notifier.worker.drain()
    assert len(down.requests) == 4 and len(bad.requests) == 1
    letters = {letter.doc["subscription"]: letter.doc for letter in await DeadLetters(notifier.store).entries()}
    assert letters["down"]["attempts"] == 4 and letters["down"]["status"] == 503 and letters["down"]["retryable"]
    assert letters["bad"]["attempts"] == 1 and "invalid_payload" in letters["bad"]["reason"]
    assert letters["bad"]["messages"][0]["id"] == make_alert(1).id
    assert await notifier.store.schedule_size() == 0


async def test_410_disables_the_subscription_persistently(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):

    with LocalServer(lambda _r: Reply(410)) as gone:
        config = notifier_config(default_config, [sub("gone", f"{gone.url}/h")])
        clock = FakeClock()
        await publish_messages(redis, make_alert(1))
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
        before = UNROUTED._value.get()
        await publish_messages(redis, make_alert(2))
        notifier = make_notifier(config, redis, http, clock)  # a restart remembers it
        await notifier.run(asyncio.Event(), drain=True)
    assert len(gone.requests) == 1
    assert "gone" in await notifier.store.disabled()
    assert UNROUTED._value.get() == before + 1
    assert [letter.doc["status"] for letter in await DeadLetters(notifier.store).entries()] == [410]


async def test_unrouted_alerts_are_acked_and_counted(
    redis: Redis, http: httpx.AsyncClient, ok_receiver: LocalServer, default_config: TripwireConfig
):
    config = notifier_config(
        default_config,
        [sub("patrols", f"{ok_receiver.url}/h", topics=["joint_patrol"]),
         sub("high", f"{ok_receiver.url}/h", min_score=0.95),
         sub("words", f"{ok_receiver.url}/h", keywords=["Derik"])],
    )  # fmt: skip
    before = UNROUTED._value.get()
    await publish_messages(redis, make_alert(1, score=0.8), make_health_event())
    await make_notifier(config, redis, http, FakeClock()).run(asyncio.Event(), drain=True)
    assert ok_receiver.requests == []
    assert UNROUTED._value.get() == before + 2
    assert await pending(redis) == 0


async def test_keyword_filter_and_feed_health_routing(
    redis: Redis, http: httpx.AsyncClient, ok_receiver: LocalServer, default_config: TripwireConfig
):
    config = notifier_config(
        default_config,
        [sub("words", f"{ok_receiver.url}/words", keywords=["qamishli"]),
         sub("ops", f"{ok_receiver.url}/ops", feed_health=True, topics=["joint_patrol"])],
    )  # fmt: skip
    await publish_messages(redis, make_alert(1), make_health_event())
    await make_notifier(config, redis, http, FakeClock()).run(asyncio.Event(), drain=True)
    got = sorted((r.path, json.loads(r.body)["type"]) for r in ok_receiver.requests)
    assert got == [("/ops", "feed_health"), ("/words", "alert")]  # a list: each sent once


async def test_connection_refused_is_retried_not_lost(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):

    url = refused_url()
    config = notifier_config(default_config, [sub("nowhere", url)])
    clock = FakeClock()
    notifier = make_notifier(config, redis, http, clock)
    await publish_messages(redis, make_alert(1))
    await notifier.run(asyncio.Event(), drain=True)
    assert await pending(redis) == 0
    assert await notifier.store.schedule_size() == 1  # kept for a retry, not dropped
    # The receiver comes up on that port; once the retry is due, the alert is delivered, once, and nothing is left.
    with LocalServer(lambda _r: Reply(204), port=int(httpx.URL(url).port or 0)) as server:
        clock.advance(3600)
        await notifier.run(asyncio.Event(), drain=True)
    assert [json.loads(r.body)["data"]["item"]["link"] for r in server.requests] == ["https://news.example/a/1"]
    assert await notifier.store.schedule_size() == 0
    assert await redis.xlen("tripwire:dlq") == 0


async def test_running_service_delivers_as_alerts_arrive_and_stops_gracefully(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    import threading

    arrived = threading.Event()
    with LocalServer(lambda _r: Reply(204), lambda _r: arrived.set()) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")])
        notifier = make_notifier(config, redis, http, FakeClock())
        stop = asyncio.Event()
        task = asyncio.create_task(notifier.run(stop))
        await publish_messages(redis, make_alert(1))
        assert await asyncio.to_thread(arrived.wait, 30)
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert len(server.requests) == 1
    assert await notifier.store.schedule_size() == 0

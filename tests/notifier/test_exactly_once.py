"""Exactly once under pacing, expired leases and slow receivers (issue 16's first reproduction and its causes).

Requests are counted as lists, never sets: a set would hide the very duplicates these tests look for.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from services.notifier.service import Notifier
from shared.config import TripwireConfig
from shared.metrics import SETTLES_FENCED
from tests.notifier.support import PREFIX, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

NUMBER = re.compile(rb"Convoy standoff number (\d+)")


def alert_numbers(requests: list[ReceivedRequest]) -> list[int]:
    """The alert each request carried, one per request (a list: duplicates stay visible)."""
    return [int(match.group(1)) for r in requests if (match := NUMBER.search(r.body))]


async def schedule_size(redis: Redis) -> int:
    return int(await redis.zcard(PREFIX + "delivery_schedule"))


async def run_until_settled(notifier: Notifier, redis: Redis, clock: FakeClock, step: float) -> None:
    """Run the notifier as a service while the pinned clock moves ``step`` s per turn, until nothing is left."""
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        for _ in range(2000):
            await asyncio.sleep(0.01)  # real time for the worker's own loop and the receiver's thread
            pending = (await redis.xpending(PREFIX + "alerts", "notifier"))["pending"]
            if await redis.exists(PREFIX + "alerts") and await schedule_size(redis) == 0 and pending == 0:
                length = await redis.xlen(PREFIX + "alerts")
                groups = await redis.xinfo_groups(PREFIX + "alerts")
                if groups and groups[0]["last-delivered-id"] != b"0-0" and length:
                    break
            clock.advance(step)
    finally:
        stop.set()
        await task  # graceful: in-flight requests finish before run returns


@pytest.mark.slow
async def test_slack_paced_beyond_the_lease_posts_each_alert_once(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Reproduction 1 of issue 16: 12 alerts, slack_rate 0.2/s and burst 1 (a minute of pacing), lease 10 s,
    # timeout 3 s, the notifier running as a service. Before: 16 posts, 4 alerts twice.
    clock = FakeClock()

    async def paced_sleep(seconds: float) -> None:  # the limiter's waits move the pinned clock
        clock.advance(seconds)
        await asyncio.sleep(0)

    with LocalServer(lambda _r: Reply(200, b"ok")) as slack, LocalServer(lambda _r: Reply(204)) as hooks:
        config = notifier_config(
            default_config,
            [sub("chat", f"{slack.url}/slack", "slack"), sub("hook", f"{hooks.url}/hook")],
            slack_rate=0.2, slack_burst=1, lease=10, timeout=3, poll_interval=0.01,
        )  # fmt: skip
        notifier = Notifier(config, redis, http, "n1", clock=clock, rng=random.Random(7), sleep=paced_sleep)
        await publish_messages(redis, *(make_alert(n) for n in range(1, 13)))
        await run_until_settled(notifier, redis, clock, step=1.0)
        posts = alert_numbers(slack.requests)
        webhook_ids = [r.headers["webhook-id"] for r in hooks.requests]
    assert len(posts) == 12, f"{len(posts)} Slack posts for 12 alerts: {sorted(Counter(posts).items())}"
    assert sorted(posts) == list(range(1, 13))
    assert len(webhook_ids) == 12 and len(set(webhook_ids)) == 12


async def test_worker_whose_lease_expires_mid_send_is_fenced_and_reconciled(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # A live worker (A) is mid-send when its lease runs out (its clock jumps past the lease); a second worker (B)
    # claims the delivery. The webhook goes again with the SAME webhook-id; the Slack post does not go again.
    release, arrived = threading.Event(), threading.Event()
    first: list[bool] = []

    def slow_first(_request: ReceivedRequest) -> Reply:
        if not first:
            first.append(True)
            arrived.set()
            release.wait(10)
        return Reply(200, b"ok")

    for kind in ("webhook", "slack"):
        await redis.flushdb()
        first.clear(), release.clear(), arrived.clear()
        with LocalServer(slow_first) as server:
            config = notifier_config(default_config, [sub("s", f"{server.url}/s", kind)], lease=20, timeout=15)
            clock = FakeClock()
            a, b = make_notifier(config, redis, http, clock), make_notifier(config, redis, http, clock)
            await publish_messages(redis, make_alert(1))
            await redis.xgroup_create(PREFIX + "alerts", "notifier", id="0")
            await a.consumer.ack(await a.handle(await a.consumer.read(block=False)))
            [(lease, record)] = await a.store.claim(await a.store.leases.peek_due(10), config.notifier.lease)
            sending = asyncio.create_task(a.worker.attempt(lease, record))
            while not arrived.is_set():
                await asyncio.sleep(0.01)
            clock.advance(config.notifier.lease + 1)
            fenced_before = SETTLES_FENCED._value.get()
            await b.worker.drain()
            release.set()
            await sending
            requests = list(server.requests)
        ids = [r.headers.get("webhook-id") for r in requests]
        dead = await redis.xrange(PREFIX + "dlq")
        if kind == "webhook":
            assert ids == [record.delivery.id, record.delivery.id], "resent once, with the same webhook-id"
            assert dead == []
        else:
            assert len(requests) == 1, "a Slack post whose lease ran out in flight is never posted again"
            assert len(dead) == 1 and b"possibly delivered" in dead[0][1][b"data"]
        assert SETTLES_FENCED._value.get() == fenced_before + 1, "A's late outcome is discarded"
        assert await schedule_size(redis) == 0


class DripReceiver:
    """A raw HTTP peer on 127.0.0.1 that answers 200 and then drips its body a byte every ``pause`` seconds."""

    def __init__(self, pause: float = 0.1, length: int = 40) -> None:
        self.pause, self.length = pause, length
        self.sent: list[int] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"

    def __enter__(self) -> DripReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % self.length)
            sent = 0
            try:
                while sent < self.length:
                    threading.Event().wait(self.pause)
                    conn.sendall(b"k")
                    sent += 1
            except OSError:
                pass  # the client hung up: what the deadline is for
            self.sent.append(sent)


@pytest.fixture
def drip() -> Iterator[DripReceiver]:
    with DripReceiver() as receiver:
        yield receiver


async def test_slow_drip_receiver_is_cut_at_one_total_deadline(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig, drip: DripReceiver
):
    # httpx's timeouts are per phase: a byte every 0.1 s never trips a 5 s read timeout, and the 4 s body would
    # come in whole. One total deadline (0.5 s) ends the request long before.
    config = notifier_config(default_config, [sub("hook", drip.url)], timeout=0.5, lease=5)
    clock = FakeClock()
    notifier = make_notifier(config, redis, http, clock)
    await publish_messages(redis, make_alert(1))
    await notifier.run(asyncio.Event(), drain=True)
    for _ in range(200):
        if drip.sent:
            break
        await asyncio.sleep(0.05)
    assert drip.sent and drip.sent[0] < drip.length, "the client hung up before the body was complete"
    records = await redis.hgetall(PREFIX + "deliveries")
    [record] = records.values()
    assert b"total deadline" in record, "a retryable timeout, rescheduled"


async def test_drain_waits_for_paced_slots_and_posts_each_once(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Pacing beyond the lease in drain mode: 6 alerts at 0.2/s take 25 s of the pinned clock, the lease is 10 s.
    clock = FakeClock()
    start = clock.monotonic()

    async def paced_sleep(seconds: float) -> None:
        clock.advance(seconds)

    with LocalServer(lambda _r: Reply(200, b"ok")) as slack:
        config = notifier_config(
            default_config, [sub("chat", f"{slack.url}/slack", "slack")], slack_rate=0.2, slack_burst=1, lease=10,
            timeout=3,
        )  # fmt: skip
        notifier = Notifier(config, redis, http, "n1", clock=clock, rng=random.Random(7), sleep=paced_sleep)
        await publish_messages(redis, *(make_alert(n) for n in range(1, 7)))
        await notifier.run(asyncio.Event(), drain=True)
        posts = alert_numbers(slack.requests)
    assert sorted(posts) == [1, 2, 3, 4, 5, 6]
    assert clock.monotonic() - start == pytest.approx(25, abs=0.5), "paced at 0.2/s, not faster"
    assert await schedule_size(redis) == 0


async def test_a_slow_subscription_cannot_hold_every_slot(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Two slots: the stuck endpoint may take one (half of concurrency), never both, so the other subscription's
    # alerts go out while it hangs (no head-of-line blocking across subscriptions).
    release = threading.Event()

    def stuck(_request: ReceivedRequest) -> Reply:
        release.wait(10)
        return Reply(204)

    with LocalServer(stuck) as slow, LocalServer(lambda _r: Reply(204)) as fast:
        config = notifier_config(
            default_config,
            [sub("slow", f"{slow.url}/h", keywords=["Derik"]), sub("fast", f"{fast.url}/h", keywords=["Idlib"])],
            concurrency=2, poll_interval=0.01, timeout=15, lease=20,
        )  # fmt: skip
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        slow_alerts = [make_alert(n, title=f"Convoy standoff number {n} near Derik") for n in range(1, 4)]
        fast_alerts = [make_alert(n, title=f"Convoy standoff number {n} near Idlib") for n in range(4, 7)]
        await publish_messages(redis, *slow_alerts, *fast_alerts)
        stop = asyncio.Event()
        task = asyncio.create_task(notifier.run(stop))
        try:
            for _ in range(1000):
                if len(fast.requests) == 3:
                    break
                await asyncio.sleep(0.01)
            assert sorted(alert_numbers(fast.requests)) == [4, 5, 6], "the other subscription was not held up"
            assert len(slow.requests) == 1, "the stuck endpoint holds one slot, not both"
        finally:
            release.set()
            stop.set()
            await task

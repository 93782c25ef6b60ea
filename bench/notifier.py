"""Notifier throughput and added delay, against a naive sequential ``httpx.post`` loop in the same run.

1,000 alerts across 10 webhook subscriptions (each alert is for one of them, by keyword) on a real Redis
started here on a free port, delivered to a receiver on 127.0.0.1. Then, at low load, the time from
publishing an alert to the receiver getting it, minus one direct POST: the delay the pipeline adds.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

import httpx
from redis.asyncio import Redis

from services.notifier.channel import Delivery
from services.notifier.routing import delivery_id
from services.notifier.service import Notifier
from services.notifier.webhook import signed_headers, webhook_body
from shared.clock import SystemClock
from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.redis_server import RedisServer
from shared.schemas import Alert, FeedRef, Item, Reasons
from shared.streams import StreamNames, publish
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

ALERTS = 1000
SUBSCRIPTIONS = 10
LATENCY_SAMPLES = 20
SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWtleS1mb3Itbm90aWZpZXI="


def make_alert(n: int) -> Alert:
    """Alert ``n``, for subscription ``n % SUBSCRIPTIONS`` (its title carries that subscription's keyword)."""
    now = SystemClock().now()
    item = Item(
        id=f"bench-{n}", feed=FeedRef(url="https://news.example/rss", title="Bench"),
        title=f"Convoy standoff bucket{n % SUBSCRIPTIONS} number {n}", summary="US and Russian convoys met.",
        link=f"https://news.example/{n}", published=now, fetched_at=now,
    )  # fmt: skip
    reasons = Reasons(score=0.8, threshold=0.55, keywords=["convoy"])
    return Alert(id=f"bench-{n}-{time.time_ns()}", item=item, topic="us_russia_standoff", score=0.8,
                 reasons=reasons, created_at=now)  # fmt: skip


def bench_config(receiver_url: str) -> TripwireConfig:
    """10 webhook subscriptions, loopback allowed."""
    subs = [
        {"name": f"sub{i}", "type": "webhook", "url": f"{receiver_url}/hook/{i}", "secret": SECRET,
         "keywords": [f"bucket{i}"]}
        for i in range(SUBSCRIPTIONS)
    ]  # fmt: skip
    return TripwireConfig.model_validate(
        {"subscriptions": subs, "network": {"allow_private": ["127.0.0.0/8"]}, "redis": {"maxlen": 100_000}}
    )


def naive_loop(alerts: list[Alert], receiver_url: str, client: httpx.Client | None = None) -> float:
    """Seconds for one ``httpx.post`` per delivery, in sequence (signed, like the notifier's)."""
    post = client.post if client is not None else httpx.post
    started = time.perf_counter()
    for n, alert in enumerate(alerts):
        sub = f"sub{n % SUBSCRIPTIONS}"
        delivery = Delivery(delivery_id(alert.id, sub), sub, (alert,))
        body = webhook_body(delivery)
        headers = signed_headers(SECRET, delivery.id, SystemClock().now(), body)
        post(f"{receiver_url}/hook/{n % SUBSCRIPTIONS}", content=body, headers=headers).raise_for_status()
    return time.perf_counter() - started


async def pipeline_run(config: TripwireConfig, redis: Redis, alerts: list[Alert], received: threading.Event) -> float:
    """Seconds from publishing ``alerts`` to the receiver having every delivery, with the notifier running."""
    names = StreamNames.of(config.redis)
    async with make_http_client(config.network, timeout=10, user_agent="bench") as http:
        stop = asyncio.Event()
        notifier = Notifier(config, redis, http, "bench")
        task = asyncio.create_task(notifier.run(stop))
        started = time.perf_counter()
        for alert in alerts:
            await publish(redis, names.alerts, alert.to_json(), config.redis.maxlen)
        await asyncio.to_thread(received.wait, 300)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
    return elapsed


async def latency_run(config: TripwireConfig, redis: Redis, receiver: LocalServer) -> list[float]:
    """Publish-to-receipt seconds for alerts sent one at a time."""
    names = StreamNames.of(config.redis)
    samples: list[float] = []
    arrived = threading.Event()
    receiver.on_request = lambda _request: arrived.set()
    async with make_http_client(config.network, timeout=10, user_agent="bench") as http:
        stop = asyncio.Event()
        task = asyncio.create_task(Notifier(config, redis, http, "bench-latency").run(stop))
        for n in range(LATENCY_SAMPLES):
            arrived.clear()
            started = time.perf_counter()
            await publish(redis, names.alerts, make_alert(10_000 + n).to_json(), config.redis.maxlen)
            await asyncio.to_thread(arrived.wait, 30)
            samples.append(time.perf_counter() - started)
        stop.set()
        await task
    return samples


def direct_post_seconds(receiver_url: str) -> list[float]:
    """One signed POST each, on a kept-alive client: the floor any delivery pays."""
    samples = []
    with httpx.Client() as client:
        for n in range(LATENCY_SAMPLES):
            alert = make_alert(20_000 + n)
            delivery = Delivery(delivery_id(alert.id, "sub0"), "sub0", (alert,))
            body = webhook_body(delivery)
            started = time.perf_counter()
            headers = signed_headers(SECRET, delivery.id, SystemClock().now(), body)
            client.post(f"{receiver_url}/hook/0", content=body, headers=headers).raise_for_status()
            samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    """Run both measurements and print figures and ratios."""
    count = 0
    lock = threading.Lock()
    done = threading.Event()

    def counting(_request: ReceivedRequest) -> None:
        nonlocal count
        with lock:
            count += 1
            if count >= ALERTS:
                done.set()

    with RedisServer(appendonly=False) as server, LocalServer(lambda _r: Reply(204), counting) as receiver:
        config = bench_config(receiver.url)
        baseline = naive_loop([make_alert(n) for n in range(ALERTS)], receiver.url)
        with httpx.Client() as client:
            keepalive = naive_loop([make_alert(n) for n in range(ALERTS)], receiver.url, client)
        with lock:
            count = 0
            done.clear()  # the naive loop's requests counted too
        pipeline, latencies = asyncio.run(_measure(config, server.url, receiver, done))
        delivered = count
        direct = direct_post_seconds(receiver.url)

    print(f"deliveries: {ALERTS} alerts across {SUBSCRIPTIONS} webhook subscriptions (delivered {delivered})")
    print(f"naive sequential httpx.post loop: {baseline:.2f} s, {ALERTS / baseline:.0f} deliveries/s")
    print(f"notifier (Redis schedule, concurrency {config.notifier.concurrency}): {pipeline:.2f} s, "
          f"{ALERTS / pipeline:.0f} deliveries/s")  # fmt: skip
    print(f"sequential loop on one kept-alive httpx.Client: {keepalive:.2f} s, {ALERTS / keepalive:.0f} deliveries/s")
    print(f"ratio notifier/naive: {baseline / pipeline:.2f}x; notifier/kept-alive loop: {keepalive / pipeline:.2f}x")
    p50, p95 = statistics.median(latencies), sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    direct50 = statistics.median(direct)
    print(f"low load, publish -> received: median {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
          f"({LATENCY_SAMPLES} alerts one at a time)")  # fmt: skip
    print(f"direct signed POST: median {direct50 * 1000:.1f} ms; delay added by the pipeline: "
          f"{(p50 - direct50) * 1000:.1f} ms (median)")  # fmt: skip


async def _measure(
    config: TripwireConfig, url: str, receiver: LocalServer, done: threading.Event
) -> tuple[float, list[float]]:
    redis = Redis.from_url(url)
    try:
        pipeline = await pipeline_run(config, redis, [make_alert(n) for n in range(ALERTS)], done)
        return pipeline, await latency_run(config, redis, receiver)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    main()

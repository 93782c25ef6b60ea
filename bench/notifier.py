"""Notifier throughput and added delay, against sequential ``httpx.post`` loops in the same run.

1,000 alerts across 10 webhook subscriptions (each alert is for one of them, by keyword) on a real Redis
started here on a free port, delivered to a receiver on 127.0.0.1 (a thread of this process), twice: alerts
published while the notifier runs, then a backlog published before it starts. Baselines in the same run: a
sequential loop on one kept-alive client (the floor of HTTP), the same POSTs through the notifier's own HTTP
client ``concurrency`` at a time without Redis (what the Redis bookkeeping adds to), and, unless ``--quick``, a
naive ``httpx.post`` per delivery. The notifier's Redis round trips are counted (bench/_redis_count.py) and
printed per delivery, by command. Then, at low load, the time from publishing an alert to the receiver getting
it, minus one direct POST: the delay the pipeline adds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Sequence

import httpx
from redis.asyncio import Redis

from bench._redis_count import CountingConnection, RoundTrips
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
CPU_SECONDS: list[float] = []  # this process's CPU seconds during the throughput run (one entry per run)
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


async def http_alone(config: TripwireConfig, alerts: list[Alert], receiver_url: str) -> tuple[float, float]:
    """(seconds, CPU seconds) for the same signed POSTs through the notifier's own HTTP client, ``concurrency`` at
    a time as the notifier sends them, without Redis: what the notifier's bookkeeping is measured against."""
    limit = asyncio.Semaphore(config.notifier.concurrency)
    async with make_http_client(config.network, timeout=10, user_agent="bench") as http:

        async def post(n: int, alert: Alert) -> None:
            sub = f"sub{n % SUBSCRIPTIONS}"
            delivery = Delivery(delivery_id(alert.id, sub), sub, (alert,))
            body = webhook_body(delivery)
            headers = signed_headers(SECRET, delivery.id, SystemClock().now(), body)
            async with limit:
                response = await http.post(f"{receiver_url}/hook/{n % SUBSCRIPTIONS}", content=body, headers=headers)
            response.raise_for_status()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(post(n, alert) for n, alert in enumerate(alerts)))
        return time.perf_counter() - started, time.process_time() - cpu


async def pipeline_run(
    config: TripwireConfig, redis: Redis, publisher: Redis, alerts: list[Alert], received: threading.Event,
    *, backlog: bool = False,
) -> float:  # fmt: skip
    """Seconds from publishing ``alerts`` to the receiver having every delivery, with the notifier running on
    ``redis`` (the counted client) while ``publisher`` publishes; with ``backlog``, the alerts are published first
    and the time runs from the notifier's start (a backlog after an outage: large reads and claims)."""
    names = StreamNames.of(config.redis)
    if backlog:
        for alert in alerts:
            await publish(publisher, names.alerts, alert.to_json(), config.redis.maxlen)
    async with make_http_client(config.network, timeout=10, user_agent="bench") as http:
        stop = asyncio.Event()
        notifier = Notifier(config, redis, http, "bench-backlog" if backlog else "bench")
        started, cpu = time.perf_counter(), time.process_time()
        task = asyncio.create_task(notifier.run(stop))
        for alert in [] if backlog else alerts:
            await publish(publisher, names.alerts, alert.to_json(), config.redis.maxlen)
        await asyncio.to_thread(received.wait, 300)
        elapsed = time.perf_counter() - started
        CPU_SECONDS.append(time.process_time() - cpu)
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


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The bench's options."""
    parser = argparse.ArgumentParser(prog="python -m bench notifier")
    parser.add_argument("--quick", action="store_true", help="skip the naive httpx.post loop (~50 s of the run)")
    parser.add_argument("--alerts", type=int, default=ALERTS, help="alerts through the notifier and the loops")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] = ()) -> None:
    """Run the measurements and print figures, ratios and the notifier's Redis round trips per delivery."""
    args = parse(argv)
    total = args.alerts
    arrivals = Arrivals(total)
    trickle, backlog = RoundTrips(), RoundTrips()
    with RedisServer(appendonly=False) as server, LocalServer(lambda _r: Reply(204), arrivals.count) as receiver:
        config = bench_config(receiver.url)
        baseline = None if args.quick else naive_loop([make_alert(n) for n in range(total)], receiver.url)
        with httpx.Client() as client:
            cpu = time.process_time()
            keepalive = naive_loop([make_alert(n) for n in range(total)], receiver.url, client)
            keepalive_cpu = time.process_time() - cpu
        alone, alone_cpu = asyncio.run(http_alone(config, [make_alert(n) for n in range(total)], receiver.url))
        runs, latencies = asyncio.run(_measure(config, server.url, receiver, arrivals, trickle, backlog))
        direct = direct_post_seconds(receiver.url)

    print(f"deliveries: {total} alerts across {SUBSCRIPTIONS} webhook subscriptions (delivered {runs[0][1]}, "
          f"then {runs[1][1]} from a backlog)")  # fmt: skip
    if baseline is not None:
        print(f"naive sequential httpx.post loop: {baseline:.2f} s, {total / baseline:.0f} deliveries/s")
    print(f"sequential loop on one kept-alive httpx.Client (the baseline): {keepalive:.2f} s, "
          f"{total / keepalive:.0f} deliveries/s, {keepalive_cpu * 1000 / total:.2f} ms CPU per delivery")  # fmt: skip
    print(f"HTTP alone: the notifier's HTTP client, {config.notifier.concurrency} requests at a time, no Redis: "
          f"{alone:.2f} s, {total / alone:.0f} deliveries/s, "
          f"{alone_cpu * 1000 / total:.2f} ms CPU per delivery")  # fmt: skip
    for (seconds, delivered), cpu_seconds, counted, what in zip(
        runs, CPU_SECONDS, (trickle, backlog), ("alerts published while it runs", "a backlog of alerts"), strict=True
    ):
        print(f"notifier (Redis schedule, concurrency {config.notifier.concurrency}), {what}: {seconds:.2f} s, "
              f"{total / seconds:.0f} deliveries/s, {cpu_seconds * 1000 / total:.2f} ms CPU per delivery; "
              f"/ kept-alive loop: {keepalive / seconds:.2f}x by deliveries/s, {keepalive_cpu / cpu_seconds:.2f}x "
              "by CPU per delivery")  # fmt: skip
        naive = f"; / naive loop: {baseline / seconds:.2f}x" if baseline is not None else ""
        print(f"  / HTTP alone: {alone / seconds:.2f}x by deliveries/s, {alone_cpu / cpu_seconds:.2f}x by CPU "
              f"per delivery{naive}")  # fmt: skip
        print_round_trips(counted, delivered)
    p50, p95 = statistics.median(latencies), sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    direct50 = statistics.median(direct)
    print(f"low load, publish -> received: median {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
          f"({LATENCY_SAMPLES} alerts one at a time)")  # fmt: skip
    print(f"direct signed POST: median {direct50 * 1000:.1f} ms; delay added by the pipeline: "
          f"{(p50 - direct50) * 1000:.1f} ms (median)")  # fmt: skip


class Arrivals:
    """Requests the receiver got since ``reset``; ``done`` is set at ``total``."""

    def __init__(self, total: int) -> None:
        self.total, self.seen = total, 0
        self.lock, self.done = threading.Lock(), threading.Event()

    def count(self, _request: ReceivedRequest) -> None:
        """The receiver's hook (its thread)."""
        with self.lock:
            self.seen += 1
            if self.seen >= self.total:
                self.done.set()

    def reset(self) -> int:
        """Start counting afresh; returns the count so far."""
        with self.lock:
            seen, self.seen = self.seen, 0
            self.done.clear()
        return seen


def print_round_trips(round_trips: RoundTrips, delivered: int) -> None:
    """The notifier's Redis round trips during the throughput run: per delivery, then the commonest by command."""
    total = round_trips.total()
    per = total / delivered if delivered else float("nan")
    print(f"notifier Redis round trips: {total} for {delivered} deliveries, {per:.2f} per delivery "
          "(reading the stream, scheduling, claiming, sending, settling; connection setup left out)")  # fmt: skip
    for label, n in round_trips.by_label.most_common(12):
        print(f"  {n / delivered if delivered else 0:6.3f} per delivery  {label}")


async def _measure(
    config: TripwireConfig, url: str, receiver: LocalServer, arrivals: Arrivals, trickle: RoundTrips,
    backlog: RoundTrips,
) -> tuple[list[tuple[float, int]], list[float]]:  # fmt: skip
    """(seconds, delivered) of the trickle run and of the backlog run, then the low-load latencies."""
    publisher = Redis.from_url(url)
    runs = []
    try:
        for counted, from_backlog in ((trickle, False), (backlog, True)):
            arrivals.reset()  # the loops' requests (or the previous run's) counted too
            await publisher.flushdb()
            redis = Redis.from_url(url, connection_class=CountingConnection, round_trips=counted)
            try:
                alerts = [make_alert(n) for n in range(arrivals.total)]
                seconds = await pipeline_run(config, redis, publisher, alerts, arrivals.done, backlog=from_backlog)
            finally:
                await redis.aclose()
            runs.append((seconds, arrivals.reset()))
        # On the uncounted client: the round trips printed are the throughput runs'.
        return runs, await latency_run(config, publisher, receiver)
    finally:
        await publisher.aclose()


if __name__ == "__main__":
    main()

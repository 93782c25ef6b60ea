"""bench/latency: publication-to-items-stream latency and requests per hour, fixed 5-minute polling vs adaptive vs
adaptive + WebSub, over a simulated day of 1,000 feeds, in one run.

What is real and what is simulated:
- REAL, measured first in this run: the push path (a signed POST to the poller's real callback server, uvicorn +
  Starlette, HMAC check, feedparser, the publish script on a real Redis) and the poll path (one real poll of a
  changed 20-item feed on 127.0.0.1: fetch, parse, publish). Their measured durations are sampled in the simulation.
- REAL, called in the simulation: the scheduling code itself, ``services.poller.adaptive.remember_publications``
  and ``poll_interval`` (the same calls the poller makes after every poll), with the default PollerSettings, and
  the schedule's jitter rule (a tenth of the interval, at most ``poller.jitter``).
- SIMULATED, on a virtual clock: 24 hours of publications (Poisson; feeds other than wires publish between 06:00
  and 22:00), each feed carrying its last 20 items; the hub's own delay from publication to its POST (lognormal,
  median 3 s, p95 about 15 s: an assumption, hubs do not publish figures); 1% of pushes lost by the hub (the
  safety-net poll must find those). Feeds are independent: no shared concurrency limit is modelled.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import random
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis

from services.poller.adaptive import poll_interval, remember_publications
from services.poller.service import Poller
from services.poller.websub import Subscription
from shared.config import FeedConfig, PollerSettings, TripwireConfig
from shared.http import make_http_client
from shared.logging import setup_logging
from shared.redis_server import RedisServer
from shared.schemas import Item
from tripwire.local_http import LocalServer, Reply

DAY = 86400.0
FEED_ITEMS = 20
HUB_LOSS = 0.01
EPOCH = datetime(2026, 11, 23, tzinfo=UTC).timestamp()  # a Monday, midnight UTC


@dataclass
class SimFeed:
    """One simulated feed: its class, whether it has a hub, and when it publishes."""

    kind: str
    hub: bool
    publications: list[float]  # virtual epoch seconds, sorted, the day before included (the feed's backlog)


@dataclass
class Outcome:
    """Latencies (seconds) per class and outgoing requests of one strategy."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    pushes: int = 0
    missed: int = 0


def make_feeds(rng: random.Random, count: int = 1000) -> list[SimFeed]:
    """10 wires (every 2-5 min), 40 busy feeds (12-30 a day), the rest a few a day or quieter; 25% of non-wires
    have a hub (WordPress, Blogger, Substack, Medium, many CMSs)."""
    feeds = []
    for n in range(count):
        if n < 10:
            kind, per_day, daytime = "wire", DAY / (60 * (2 + n % 4)), False
        elif n < 50:
            kind, per_day, daytime = "busy", rng.uniform(12, 30), True
        elif n < 750:
            kind, per_day, daytime = "few a day", rng.uniform(2, 8), True
        else:
            kind, per_day, daytime = "quiet", rng.uniform(0.1, 1), True
        hub = kind != "wire" and rng.random() < 0.25
        feeds.append(SimFeed(kind, hub, _publications(rng, per_day, daytime)))
    return feeds


def _publications(rng: random.Random, per_day: float, daytime: bool) -> list[float]:
    times, t = [], EPOCH - 2 * DAY
    hours = 16.0 if daytime else 24.0
    rate = per_day / (hours * 3600)
    while t < EPOCH + DAY:
        t += rng.expovariate(rate)
        hour = (t - EPOCH) % DAY / 3600
        if not daytime or 6 <= hour < 22:
            times.append(t)
    return [x for x in times if x < EPOCH + DAY]


def simulate(
    feeds: list[SimFeed], strategy: str, poll_costs: list[float], push_costs: list[float], seed: int,
    settings: PollerSettings | None = None,
) -> Outcome:  # fmt: skip
    """Run one strategy over the day; latency = first sight (poll or push) minus publication."""
    rng, outcome = random.Random(seed), Outcome()
    settings = settings or PollerSettings()
    for n, feed in enumerate(feeds):
        config = FeedConfig(url=f"https://feed{n}.example/rss", interval=300.0 if strategy == "fixed" else None)
        push = strategy == "adaptive+websub" and feed.hub
        seen_at = _poll_day(feed, config, settings, push, poll_costs, rng, outcome)
        if push:
            outcome.requests += 1  # the subscription request (a 10-day lease needs no renewal within the day)
            for p, when in seen_at.items():
                if rng.random() >= HUB_LOSS:
                    outcome.pushes += 1
                    arrival = p + rng.lognormvariate(math.log(3.0), 1.0) + rng.choice(push_costs)
                    seen_at[p] = min(when, arrival)
        label = "hub feeds" if feed.hub else ("wires" if feed.kind == "wire" else "other feeds")
        bucket = outcome.latencies.setdefault(label, [])
        bucket.extend(when - p for p, when in seen_at.items() if when < math.inf)
        outcome.missed += sum(1 for when in seen_at.values() if when == math.inf)
    return outcome


def _poll_day(
    feed: SimFeed, config: FeedConfig, settings: PollerSettings, push_live: bool, poll_costs: list[float],
    rng: random.Random, outcome: Outcome,
) -> dict[float, float]:  # fmt: skip
    """Poll one feed through the day with the real interval functions; when each of the day's items was seen."""
    day = [p for p in feed.publications if p >= EPOCH]
    seen_at = dict.fromkeys(day, math.inf)
    times: list[float] = []
    t, last = EPOCH + rng.uniform(0, settings.jitter), None
    while t < EPOCH + DAY:
        outcome.requests += 1
        visible = [p for p in feed.publications if p <= t][-FEED_ITEMS:]
        new = [p for p in visible if last is None or p > last]
        done = t + rng.choice(poll_costs)
        for p in new:
            if p in seen_at and seen_at[p] == math.inf:
                seen_at[p] = done
        items = cast(list[Item], [SimpleNamespace(published=_dt(p), published_estimated=False) for p in new])
        times = remember_publications(times, items, 0, t, first_poll=last is None)
        interval = poll_interval(config, settings, times, t, push_live=push_live)
        last = t
        t += interval + rng.uniform(0, min(settings.jitter, interval / 10))
    return seen_at


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def measure_paths(rounds: int = 30) -> tuple[list[float], list[float]]:
    """Real durations: a signed push through the callback server to the stream, and a poll of a changed feed."""
    with RedisServer(appendonly=False) as server:
        redis = Redis.from_url(server.url)
        try:
            return await _measure(redis, rounds)
        finally:
            await redis.aclose()


async def _measure(redis: Redis, rounds: int) -> tuple[list[float], list[float]]:
    version = {"n": 0}

    def body(n: int) -> bytes:
        entries = "".join(f"<item><title>Story {n}-{k}</title><guid>s{n}-{k}</guid><description>Convoys near Derik, "
                          f"report {k}.</description></item>" for k in range(FEED_ITEMS))  # fmt: skip
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>{entries}</channel></rss>'.encode()
        )

    with LocalServer(lambda _r: Reply(200, body(version["n"]), {"Content-Type": "application/rss+xml"})) as site:
        port = _free_port()
        config = TripwireConfig.model_validate({
            "network": {"allow_private": ["127.0.0.0/8"]}, "feeds": [{"url": f"{site.url}/feed"}],
            "poller": {"websub": {"callback_url": f"http://127.0.0.1:{port}/websub", "listen": f"127.0.0.1:{port}",
                                  "per_feed_per_second": 1000}},  # back-to-back pushes here, not a hub's pace
        })  # fmt: skip
        http = make_http_client(config.network, timeout=10, user_agent="bench")
        poller = Poller(config, redis, http)
        assert poller.websub is not None
        now = datetime.now(UTC)
        record = Subscription(id="bench-subscription", feed_url=f"{site.url}/feed", hub="http://127.0.0.1:9/hub",
                              topic=f"{site.url}/feed", active=True, verified_at=now, lease_seconds=86400,
                              expires_at=now + timedelta(days=1))  # fmt: skip
        secret = "bench-secret-" + "x" * 30
        await poller.websub.store.create(record, SecretStr(secret), now + timedelta(days=1))
        stop = asyncio.Event()
        serving = poller.start_callback_server(stop)
        await _wait_listening(port)
        push_costs, poll_costs = [], []
        async with httpx.AsyncClient() as client:
            for n in range(rounds):
                payload = body(10_000 + n)
                signature = "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
                started = time.perf_counter()
                reply = await client.post(
                    f"http://127.0.0.1:{port}/websub/{record.id}",
                    content=payload,
                    headers={"X-Hub-Signature": signature, "Content-Type": "application/rss+xml"},
                )
                push_costs.append(time.perf_counter() - started)  # the reply comes after the items are published
                assert reply.status_code == 202, reply.status_code
                version["n"] = n + 1
                started = time.perf_counter()
                result = await poller.poll_feed(config.feeds[0])
                poll_costs.append(time.perf_counter() - started)
                assert result.published == FEED_ITEMS, result
        stop.set()
        assert serving is not None
        await serving
        await http.aclose()
    return poll_costs, push_costs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int) -> None:
    for _ in range(500):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        return
    raise RuntimeError("the callback server did not start")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _row(label: str, values: list[float]) -> str:
    return (f"  {label:<12} n={len(values):>6}  p50 {_pct(values, 0.5):>7.1f} s  p95 {_pct(values, 0.95):>7.1f} s  "
            f"p99 {_pct(values, 0.99):>7.1f} s")  # fmt: skip


def report(name: str, outcome: Outcome, baseline: Outcome | None, emit: Callable[[str], None] = print) -> None:
    """Print one strategy's figures."""
    per_hour = outcome.requests / 24
    ratio = f", {per_hour / (baseline.requests / 24):.2f}x fixed" if baseline else ""
    emit(f"{name}: {per_hour:,.0f} requests/hour{ratio}; pushes received {outcome.pushes / 24:,.0f}/hour; "
         f"items not yet seen when the day ends {outcome.missed}")  # fmt: skip
    everything = [v for values in outcome.latencies.values() for v in values]
    for label in ("wires", "hub feeds", "other feeds"):
        emit(_row(label, outcome.latencies.get(label, [])))
    emit(_row("all", everything))


def main() -> None:
    """Measure the real paths, then simulate the day under each strategy and print the comparison."""
    setup_logging("text", "WARNING")
    poll_costs, push_costs = asyncio.run(measure_paths())
    poll_ms = statistics.median(poll_costs) * 1000
    print(f"measured (real, 127.0.0.1): poll of a changed 20-item feed p50 {poll_ms:.1f} ms;"
          f" signed push to items stream p50 {statistics.median(push_costs) * 1000:.1f} ms, "
          f"p95 {_pct(push_costs, 0.95) * 1000:.1f} ms")  # fmt: skip
    feeds = make_feeds(random.Random(21))
    kinds = {kind: sum(1 for f in feeds if f.kind == kind) for kind in ("wire", "busy", "few a day", "quiet")}
    items = sum(1 for f in feeds for p in f.publications if p >= EPOCH)
    print(f"simulated day: {len(feeds)} feeds {kinds}, {sum(f.hub for f in feeds)} with a hub, {items:,} items")
    fixed = simulate(feeds, "fixed", poll_costs, push_costs, seed=1)
    report("fixed 5 min", fixed, None)
    report("adaptive", simulate(feeds, "adaptive", poll_costs, push_costs, seed=1), fixed)
    pushed = simulate(feeds, "adaptive+websub", poll_costs, push_costs, seed=1)
    report("adaptive+WebSub", pushed, fixed)
    tighter = PollerSettings(max_interval=900)
    report("adaptive+WebSub, max_interval 15m", simulate(feeds, "adaptive+websub", poll_costs, push_costs, 1, tighter),
           fixed)  # fmt: skip
    goal = _pct(pushed.latencies["hub feeds"], 0.95) < 60 and _pct(pushed.latencies["wires"], 0.95) < 60
    print(f"goal (p95 < 60 s for hub feeds and wires, fewer requests than fixed): "
          f"{'met' if goal and pushed.requests < fixed.requests else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()

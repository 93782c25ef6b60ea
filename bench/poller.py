"""bench/poller: one poll cycle over 1,000 and 10,000 feeds that answer like real ones, against a naive sequential loop.

The feeds live on 127.0.0.1, but each answers after its own delay, drawn once per feed from a log-uniform spread
of 50 ms to 2 s (real feed servers answer in 100 ms to seconds); 1% never answer within the timeout, 20% are
unchanged since the last cycle (304 to a client that sends their ETag), every body is gzip-compressed for a client
that accepts it, and each feed carries 10 items (changed feeds renew half of them).

The poller runs one warm-up cycle with the delays off (so it holds validators, as it would in production), then
the measured cycle. The naive loop is what a first script does: for each URL in turn, ``httpx.get`` with the same
timeout, then ``feedparser.parse``; no validators, so it gets every body. It is sequential, so its time is the sum
of its feeds' times: it runs on every k-th feed (a sample with the same spread) and its time is scaled by k, which
the output says. The 10,000-feed run scales every delay (not the 5 s timeout) by 0.1 to keep the bench's wall
time bounded (the ratio then measures concurrency against per-feed CPU more than against waiting). A timeout
scaled to 0.5 s failed every fetch of a 10,000-feed cycle on a machine loaded to 15 on 2 cores.

All feeds are on one host here, so the per-host limit is raised to the global one (with real feeds spread over
many hosts the global limit is the one that binds).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import resource
import time
from dataclasses import dataclass

import feedparser
import httpx
from redis.asyncio import Redis

from services.poller.service import Poller
from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.logging import setup_logging
from shared.redis_server import RedisServer
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

ITEMS_PER_FEED = 10
TIMEOUT = 5.0  # seconds, at delay scale 1
SHORTEST, LONGEST = 0.05, 2.0
TIMEOUT_SHARE, UNCHANGED_SHARE = 0.01, 0.20
SEED = 17


@dataclass(frozen=True)
class Feed:
    """How one feed answers."""

    delay: float  # seconds before the answer, at scale 1
    times_out: bool
    unchanged: bool


class FeedFarm:
    """Serves /feed/<n> with each feed's delay, gzip, ETags and 304s; ``scale`` multiplies every delay."""

    def __init__(self, count: int, scale: float) -> None:
        rng = random.Random(SEED)
        self.scale, self.cycle, self.delays_on = scale, 1, False
        self.feeds = [
            Feed(
                delay=SHORTEST * (LONGEST / SHORTEST) ** rng.random(),
                times_out=rng.random() < TIMEOUT_SHARE,
                unchanged=rng.random() < UNCHANGED_SHARE,
            )
            for _ in range(count)
        ]
        self.server = LocalServer(self.respond)
        # A timed-out client has gone when its feed finally answers: the broken pipe is expected, not news.
        self.server._server.handle_error = lambda *args: None  # type: ignore[method-assign]

    def body(self, number: int, version: int) -> bytes:
        """An RSS document; a changed feed renews half its items each cycle."""
        items = []
        for n in range(ITEMS_PER_FEED):
            guid = f"f{number}-c{version if n < ITEMS_PER_FEED // 2 else 0}-i{n}"
            items.append(
                f"<item><title>Feed {number} story {guid}</title><guid>{guid}</guid>"
                f"<description>&lt;p&gt;Soldiers and convoys near the border, report {guid}.&lt;/p&gt;</description>"
                f"<pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate></item>"
            )
        head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {number}</title>'
        return (head + "".join(items) + "</channel></rss>").encode()

    def respond(self, request: ReceivedRequest) -> Reply:
        """After the feed's delay: 304 when the client's ETag is current, else 200 (gzip when accepted)."""
        number = int(request.path.rsplit("/", 1)[1])
        feed = self.feeds[number]
        if self.delays_on:
            time.sleep(TIMEOUT + 1.0 if feed.times_out else feed.delay * self.scale)
        version = 1 if feed.unchanged else self.cycle
        etag = f'"{number}-{version}"'
        if request.headers.get("if-none-match") == etag:
            return Reply(304)
        body, headers = self.body(number, version), {"ETag": etag, "Content-Type": "application/rss+xml"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = gzip.compress(body, compresslevel=6), "gzip"
        return Reply(200, body, headers)

    def urls(self) -> list[str]:
        """Every feed URL."""
        return [f"{self.server.url}/feed/{n}" for n in range(len(self.feeds))]


def bench_config(urls: list[str], prefix: str, concurrency: int, timeout: float) -> TripwireConfig:
    """Loopback allowed; per-host limit raised to the global one since every feed lives on 127.0.0.1."""
    return TripwireConfig.model_validate(
        {
            "network": {"allow_private": ["127.0.0.0/8"]},
            "redis": {"stream_prefix": prefix},
            "poller": {"max_concurrency": concurrency, "per_host_concurrency": concurrency, "timeout": timeout},
            "feeds": [{"url": url} for url in urls],
        }
    )


async def poller_cycle(farm: FeedFarm, redis_url: str, prefix: str, concurrency: int) -> tuple[float, dict[str, int]]:
    """Warm-up cycle without delays (validators stored), then the measured cycle with them: wall s, counts."""
    config = bench_config(farm.urls(), prefix, concurrency, TIMEOUT)
    redis = Redis.from_url(redis_url)
    limit = concurrency + 10
    async with make_http_client(config.network, timeout=60, user_agent="bench", max_connections=limit) as http:
        poller = Poller(config, redis, http)
        farm.cycle, farm.delays_on = 1, False
        await poller.poll_all()
        farm.cycle, farm.delays_on = 2, True
        started = time.perf_counter()
        results = await poller.poll_all()
        wall = time.perf_counter() - started
    await redis.aclose()
    counts = {
        "published": sum(r.published for r in results),
        "not_modified": sum(r.not_modified for r in results),
        "errors": sum(r.error is not None for r in results),
    }
    return wall, counts


def naive_loop(farm: FeedFarm, stride: int) -> tuple[float, int, int]:
    """Every ``stride``-th feed in turn, httpx.get then feedparser.parse: wall s (times stride), entries, errors."""
    farm.cycle, farm.delays_on = 2, True
    entries = errors = 0
    started = time.perf_counter()
    for url in farm.urls()[::stride]:
        try:
            response = httpx.get(url, timeout=TIMEOUT)
            entries += len(feedparser.parse(response.content).entries)
        except httpx.HTTPError:
            errors += 1
    return (time.perf_counter() - started) * stride, entries * stride, errors * stride


def run(count: int, scale: float, stride: int, concurrencies: list[int], redis_url: str) -> None:
    """One farm of ``count`` feeds: the poller at each concurrency, then the naive loop; print figures and ratios."""
    farm = FeedFarm(count, scale)
    with farm.server:
        cycles = {c: asyncio.run(poller_cycle(farm, redis_url, f"bench{count}-{c}:", c)) for c in concurrencies}
        naive, entries, naive_errors = naive_loop(farm, stride)
    delays = [f.delay * scale for f in farm.feeds if not f.times_out]
    print(
        f"\n{count:,} feeds, delays {SHORTEST * scale * 1000:.0f} ms-{LONGEST * scale:.1f} s (mean "
        f"{sum(delays) / len(delays) * 1000:.0f} ms), {sum(f.times_out for f in farm.feeds)} time out "
        f"(timeout {TIMEOUT:.1f} s), {sum(f.unchanged for f in farm.feeds)} unchanged (304), gzip"
    )
    print(
        f"naive loop: {naive:8.1f} s (measured on every {stride}th feed, {count // stride} feeds, x{stride}); "
        f"~{entries:,} entries, ~{naive_errors} errors"
    )
    for concurrency, (wall, counts) in cycles.items():
        print(
            f"poller, concurrency {concurrency:3}: {wall:6.1f} s; {counts['not_modified']} not modified, "
            f"{counts['published']:,} items published, {counts['errors']} errors; "
            f"naive / poller {naive / wall:.1f}x (at most ~{concurrency}x from concurrency alone)"
        )


def main(arguments: list[str] | None = None) -> None:
    """1,000 feeds at full delays, then 10,000 at a tenth of them (``--quick``: 1,000 only)."""
    parser = argparse.ArgumentParser(prog="bench.poller")
    parser.add_argument("--quick", action="store_true", help="1,000 feeds only")
    parser.add_argument("--large-only", action="store_true", help="10,000 feeds only")
    args, _ = parser.parse_known_args(arguments or [])
    setup_logging("text", "ERROR")
    with RedisServer(appendonly=False) as redis_server:
        if not args.large_only:
            run(1000, 1.0, 10, [20, 50], redis_server.url)
        if not args.quick:
            run(10_000, 0.1, 20, [20, 50], redis_server.url)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the machine may be shared)")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

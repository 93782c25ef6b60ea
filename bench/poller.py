"""bench/poller: one poll cycle over 1,000 local feeds (half 304, half 200 with new items) vs a naive feedparser loop.

Both sides run in this process against the same HTTP server on 127.0.0.1, on the same feeds in the same state:
the poller after one warm-up cycle (so it holds validators, as it would in production), the baseline as
``for url in urls: feedparser.parse(url)``. Wall time and CPU seconds come from a plain pass; peak memory from a
second pass under tracemalloc (Python heap), because tracemalloc slows both sides.
"""

from __future__ import annotations

import asyncio
import resource
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import feedparser
from redis.asyncio import Redis

from services.poller.service import Poller
from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.logging import setup_logging
from shared.redis_server import RedisServer
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

FEEDS = 1000
ITEMS_PER_FEED = 10
CONCURRENCY = 20


@dataclass
class Figures:
    """What one side of the comparison cost."""

    wall: float
    cpu: float
    peak_bytes: int = 0


class FeedFarm:
    """Serves /feed/<n>: even feeds never change (304 once validators are held), odd feeds gain items per cycle."""

    def __init__(self) -> None:
        self.cycle = 1
        self.server = LocalServer(self.respond)

    def body(self, feed: int, cycle: int) -> bytes:
        """An RSS document; odd feeds get half their items renewed each cycle."""
        version = cycle if feed % 2 else 1
        items = []
        for n in range(ITEMS_PER_FEED):
            guid = f"f{feed}-c{version if n < ITEMS_PER_FEED // 2 else 0}-i{n}"
            items.append(
                f"<item><title>Feed {feed} story {guid}</title><guid>{guid}</guid>"
                f"<description>&lt;p&gt;Soldiers and convoys near the border, report {guid}.&lt;/p&gt;</description>"
                f"<pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate></item>"
            )
        head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>'
        return (head + "".join(items) + "</channel></rss>").encode()

    def respond(self, request: ReceivedRequest) -> Reply:
        """200 with an ETag, or 304 when the client's ETag is current."""
        feed = int(request.path.rsplit("/", 1)[1])
        etag = f'"{feed}-{self.cycle if feed % 2 else 1}"'
        if request.headers.get("if-none-match") == etag:
            return Reply(304)
        return Reply(200, self.body(feed, self.cycle), {"ETag": etag, "Content-Type": "application/rss+xml"})

    def urls(self) -> list[str]:
        """Every feed URL."""
        return [f"{self.server.url}/feed/{n}" for n in range(FEEDS)]


def bench_config(urls: list[str], prefix: str) -> TripwireConfig:
    """Loopback allowed; per-host limit raised to the global one since every feed lives on 127.0.0.1."""
    return TripwireConfig.model_validate(
        {
            "network": {"allow_private": ["127.0.0.0/8"]},
            "redis": {"stream_prefix": prefix},
            "poller": {"max_concurrency": CONCURRENCY, "per_host_concurrency": CONCURRENCY, "timeout": 60},
            "feeds": [{"url": url} for url in urls],
        }
    )


async def poller_cycle(farm: FeedFarm, redis_url: str, prefix: str, traced: bool) -> tuple[Figures, dict[str, int]]:
    """Warm-up cycle (validators stored), then the measured cycle."""
    config = bench_config(farm.urls(), prefix)
    redis = Redis.from_url(redis_url)
    async with make_http_client(config.network, timeout=60, user_agent="tripwire-bench", max_connections=50) as http:
        poller = Poller(config, redis, http)
        farm.cycle = 1
        await poller.poll_all()
        farm.cycle = 2
        figures, results = await _measure_async(poller.poll_all, traced)
    await redis.aclose()
    counts = {
        "published": sum(r.published for r in results),
        "not_modified": sum(r.not_modified for r in results),
        "errors": sum(r.error is not None for r in results),
    }
    return figures, counts


def baseline(urls: list[str], traced: bool) -> tuple[Figures, int]:
    """The naive loop: feedparser fetches and parses each URL in turn."""

    def loop() -> int:
        return sum(len(feedparser.parse(url).entries) for url in urls)

    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    entries = loop()
    figures = Figures(time.perf_counter() - started, time.process_time() - cpu)
    if traced:
        figures.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return figures, entries


async def _measure_async(work: Any, traced: bool) -> tuple[Figures, Any]:
    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    result = await work()
    figures = Figures(time.perf_counter() - started, time.process_time() - cpu)
    if traced:
        figures.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return figures, result


def main() -> None:
    """Run both sides twice (timing pass, memory pass) and print the figures and ratios."""
    setup_logging("text", "WARNING")
    farm = FeedFarm()
    with farm.server, RedisServer(appendonly=False) as redis_server:
        timed, counts = asyncio.run(poller_cycle(farm, redis_server.url, "bench1:", traced=False))
        farm.cycle = 2
        naive, entries = baseline(farm.urls(), traced=False)
        traced_poller, _ = asyncio.run(poller_cycle(farm, redis_server.url, "bench2:", traced=True))
        farm.cycle = 2
        traced_naive, _ = baseline(farm.urls(), traced=True)
    print(f"feeds: {FEEDS} on 127.0.0.1, {ITEMS_PER_FEED} items each; concurrency {CONCURRENCY} (global = per host)")
    print(f"poller cycle: {counts['not_modified']} not modified (304), {FEEDS - counts['not_modified']} fetched, "
          f"{counts['published']} items published, {counts['errors']} errors")  # fmt: skip
    print(f"naive loop:   {FEEDS} fetched, {entries} entries parsed (nothing published)")
    print(f"{'':14}{'wall s':>9}{'cpu s':>9}{'peak heap MiB':>15}")
    for name, fig in (("poller", timed), ("naive loop", naive)):
        mib = (traced_poller if name == "poller" else traced_naive).peak_bytes / 2**20
        print(f"{name:14}{fig.wall:9.2f}{fig.cpu:9.2f}{mib:15.1f}")
    print(f"ratio naive/poller: wall {naive.wall / timed.wall:.2f}x, cpu {naive.cpu / timed.cpu:.2f}x, "
          f"peak heap {traced_naive.peak_bytes / max(traced_poller.peak_bytes, 1):.2f}x")  # fmt: skip
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (both sides, all passes): {peak_rss:.0f} MiB")


if __name__ == "__main__":
    main()

"""Every network wait of a poll sits under a total deadline, DNS included (issue 26, item 10): article links to a
host whose lookups never return cannot keep ``poller --once`` (poll_all) from ending."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import httpx
from redis.asyncio import Redis

from services.poller.service import Poller
from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.outbound import ThreadedResolver
from tests.helpers import LOOPBACK, config_with, rss
from tests.poller.support import ManualClock, published_items
from tripwire.local_http import LocalServer, Reply

HANG_GUARD = 120.0  # seconds; the polls below end in a few deadlines of 1 s: this only turns a hang into a failure
ARTICLES = 40  # more than asyncio's default executor has threads on any machine (min(32, cores + 4))


def feeds(server_url: str) -> dict[str, bytes]:
    """/a.xml: items whose links point at a host that never resolves; /b.xml: one ordinary item."""
    stuck = [{"title": f"Standoff {n}", "description": "Read more.", "link": f"http://never-resolves.example/a/{n}",
              "guid": f"stuck-{n}"} for n in range(ARTICLES)]  # fmt: skip
    plain = [{"title": "Patrol on the M4", "description": "Long enough summary. " * 10, "guid": "b-1"}]
    return {"/a.xml": rss(stuck), "/b.xml": rss(plain)}


async def test_a_poll_ends_when_article_hosts_never_resolve(redis: Redis, default_config: TripwireConfig):
    released = threading.Event()

    async def hanging_resolver(host: str, port: int) -> Sequence[str]:
        # What main's resolver did when DNS hangs: getaddrinfo blocked in asyncio's default executor, so every
        # lookup cancelled by a deadline left a thread behind, and parsing (which ran there too) waited behind them.
        await asyncio.get_running_loop().run_in_executor(None, released.wait)
        return []

    with LocalServer(lambda _r: Reply(404)) as server:
        pages = feeds(server.url)
        server.responder = lambda r: Reply(200, pages[r.path], {"Content-Type": "application/rss+xml"})
        config = config_with(default_config, feeds=[{"url": f"{server.url}/a.xml"}, {"url": f"{server.url}/b.xml"}],
                             poller={"jitter": 0, "timeout": 1, "fulltext_max_per_poll": ARTICLES,
                                     "per_host_concurrency": ARTICLES, "max_concurrency": ARTICLES})  # fmt: skip
        http = make_http_client(config.network, timeout=1, user_agent="test", resolver=hanging_resolver)
        try:
            async with http:
                poller = Poller(config, redis, http, clock=ManualClock())
                first, second = poller.feeds.values()
                stuck = await asyncio.wait_for(poller.poll_feed(first), HANG_GUARD)
                after = await asyncio.wait_for(poller.poll_feed(second), HANG_GUARD)
        finally:
            released.set()  # let the threads the test itself blocked finish, so the event loop can close
    assert stuck.error is None and stuck.published == ARTICLES  # published without article text, not held back
    assert after.error is None and after.published == 1
    items = await published_items(redis, config)
    assert len(items) == ARTICLES + 1 and not any(item.article_text for item in items)


async def test_the_system_resolver_never_blocks_the_default_executor_and_bounds_its_threads():
    released = threading.Event()

    def never_answers(*_args: Any, **_kwargs: Any) -> list[Any]:
        released.wait()
        return []

    resolver = ThreadedResolver(lookup=never_answers, max_threads=4)
    try:
        async with make_http_client(LOOPBACK, timeout=0.5, user_agent="test", resolver=resolver) as client:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(client.get(f"http://host-{n}.example/") for n in range(8)), return_exceptions=True),
                HANG_GUARD,
            )
            # The default executor is free: its threads never ran a lookup.
            assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), HANG_GUARD) == 42
        assert all(isinstance(o, httpx.ConnectTimeout | httpx.ConnectError) for o in outcomes), outcomes
        assert resolver._busy <= 4  # the lookups beyond the cap were refused at once, not given a thread
    finally:
        released.set()

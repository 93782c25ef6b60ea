"""Concurrency limits and the per-feed lock (Redis outages logged once: tests/reliability/test_redis_outage.py)."""

from __future__ import annotations

import threading

import pytest

from services.poller.lock import FeedLocks
from shared.streams import StreamNames
from tests.helpers import rss
from tests.poller.support import poller_config, running_poller, story
from tripwire.local_http import LocalServer, ReceivedRequest, Reply


class InFlight:
    """A responder that records how many requests it served at once.

    Each request waits (up to 10 s) until ``target`` requests are in flight together, then lingers briefly so an
    overlap beyond the limit would show: the count reaches the limit only if the poller really runs that many
    fetches at once, and exceeds it only if the limit is broken. Asserted on counts, never on time.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.now = self.most = 0
        self._lock, self._together, self._never = threading.Lock(), threading.Event(), threading.Event()

    def __call__(self, _request: ReceivedRequest) -> Reply:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.now >= self.target:
                self._together.set()
        self._together.wait(10)
        self._never.wait(0.1)  # gives a request beyond the limit the chance to overlap
        with self._lock:
            self.now -= 1
        return Reply(200, rss([story(1)]), {"Content-Type": "application/rss+xml"})


@pytest.mark.parametrize(("overall", "per_host", "expected"), [(10, 1, 1), (2, 10, 2)])
async def test_fetches_in_flight_respect_global_and_per_host_limits(redis, default_config, overall, per_host, expected):
    responder = InFlight(expected)
    with LocalServer(responder) as server:
        urls = [f"{server.url}/feed{n}" for n in range(5)]
        config = poller_config(default_config, urls, max_concurrency=overall, per_host_concurrency=per_host)
        async with running_poller(config, redis) as poller:
            results = await poller.poll_all()
    assert all(result.error is None for result in results)
    # Exactly the limit: never more (the limit holds), and not fewer (the fetches do run side by side).
    assert responder.most == expected


async def test_a_lock_is_released_only_by_its_holder(redis):
    locks = FeedLocks(redis, StreamNames("t:"), ttl_seconds=60)
    async with locks.hold("http://a/feed") as held:
        assert held
        async with locks.hold("http://a/feed") as second:
            assert not second
        # Our lock expired and another replica took it: leaving our block must not free theirs.
        await redis.set(locks.key("http://a/feed"), "someone-else")
    assert await redis.get(locks.key("http://a/feed")) == b"someone-else"

"""Pacing shared through Redis: two limiters (or two notifier processes) on one Redis keep one URL at one rate."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from services.notifier.shared_pacing import SharedRateLimiter
from shared.redis_server import RedisServer
from shared.streams import StreamNames
from tests.reliability.support import ServiceProcess, config_doc, make_alert, wait_until, write_config
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

NAMES = StreamNames("tripwire:")
URL = "https://hooks.slack.com/services/T0/B0/secret-part"


async def test_two_limiters_on_one_redis_share_one_bucket_per_url(redis: Redis):
    first, second = SharedRateLimiter(redis, NAMES), SharedRateLimiter(redis, NAMES)
    # One slot a second, so the time between these calls (milliseconds, up to a few hundred on a loaded machine)
    # cannot refill a slot by itself: Redis TIME decides the bucket, and only the explicit wait below passes a slot.
    rate = 1.0
    # The burst (2) is shared: whichever limiter asks, two slots are taken at once, then the URL is paced.
    assert [await first.try_acquire(URL, rate, 2), await second.try_acquire(URL, rate, 2)] == [0.0, 0.0]
    wait = await first.try_acquire(URL, rate, 2)
    assert 0.0 < wait <= 1.0 + 1e-6
    # Non-blocking and non-reserving: a refusal takes nothing, so asking again (either limiter) says the same slot.
    again = await second.try_acquire(URL, rate, 2)
    assert 0.0 < again <= wait
    # Once the wait has passed on Redis' clock the slot is there, for one of them only.
    await asyncio.sleep(again + 0.05)
    assert await second.try_acquire(URL, rate, 2) == 0.0
    assert await first.try_acquire(URL, rate, 2) > 0.0
    # Another URL has its own bucket.
    assert await first.try_acquire(URL + "-other", 10.0, 2) == 0.0
    assert URL not in str(await redis.keys("*"))  # the secret URL is hashed into the key name


async def test_a_refusal_never_pushes_the_next_slot_later(redis: Redis):
    limiter = SharedRateLimiter(redis, NAMES)
    assert await limiter.try_acquire(URL, 0.001, 1) == 0.0  # one token per 1000 s
    waits = [await limiter.try_acquire(URL, 0.001, 1) for _ in range(5)]
    # A reserving bucket would answer 1000, 2000, 3000...: refused callers keep asking, they do not queue up debt.
    assert all(990 < wait <= 1000 for wait in waits), waits


async def test_no_rate_means_no_pacing_and_no_key(redis: Redis):
    limiter = SharedRateLimiter(redis, NAMES)
    assert await limiter.try_acquire(URL, None, 1) == 0.0
    assert await redis.dbsize() == 0


def consumers(redis: redis_sync.Redis) -> int:
    """Consumers of the notifier group (0 before the group exists)."""
    try:
        return len(redis.xinfo_consumers("tripwire:alerts", "notifier"))
    except redis_sync.ResponseError:
        return 0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own."""
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        yield redis_server


@pytest.mark.slow
def test_two_notifier_processes_together_keep_a_slack_url_at_slack_rate(server: RedisServer, tmp_path: Path) -> None:
    """Only the bound a loaded machine cannot break is asserted: the last post cannot come sooner than the shared
    bucket allows after the alerts were queued ((n - burst) / rate). Two unshared buckets would allow half that."""
    alerts, rate, burst = 12, 4.0, 1
    arrivals: list[float] = []
    lock = threading.Lock()

    def slack(_request: ReceivedRequest) -> Reply:
        with lock:
            arrivals.append(time.monotonic())
        return Reply(200, b"ok")

    receiver = LocalServer(slack).start()
    doc = config_doc({})
    doc["subscriptions"] = [
        {"name": "room", "type": "slack", "url": f"{receiver.url}/hook", "topics": ["standoff"], "min_score": 0.3}
    ]
    # One delivery in flight per process, so both processes keep claiming from the shared schedule.
    doc["notifier"] = {"slack_rate": rate, "slack_burst": burst, "concurrency": 1}
    config = write_config(tmp_path / "tripwire.yaml", doc)
    notifiers = [ServiceProcess("notifier", config, f"n{n}", server.url, tmp_path) for n in (1, 2)]
    redis = server.client()
    try:
        for process in notifiers:
            process.start()
        wait_until(lambda: consumers(redis) == 2, 60, "both notifiers reading")
        queued_at = time.monotonic()
        for n in range(alerts):
            redis.xadd("tripwire:alerts", {"data": make_alert(n).to_json()})
        wait_until(lambda: len(arrivals) >= alerts, 120, "every alert posted")
        assert len(arrivals) == alerts
        assert max(arrivals) - queued_at >= (alerts - burst) / rate
        for process in notifiers:
            process.terminate()
            assert process.wait(60) == 0
        assert all(process.logged("delivered") >= 1 for process in notifiers), "one process did all the posting"
    finally:
        for process in notifiers:
            process.stop()
        receiver.stop()
        redis.close()

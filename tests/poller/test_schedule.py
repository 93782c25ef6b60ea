"""The schedule: jobs per feed, first runs on time, reload (SIGHUP) adds, removes and changes feeds."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading

from services.poller.schedule import FeedSchedule
from shared.clock import SystemClock
from shared.config import FeedConfig
from tests.helpers import rss
from tests.poller.support import poller_config, running_poller, story
from tripwire.local_http import LocalServer, ReceivedRequest, Reply


def feed(path: str, **fields: object) -> FeedConfig:
    return FeedConfig.model_validate({"url": f"http://127.0.0.1:9/{path}", **fields})


async def test_a_scheduled_feed_is_polled():
    polled = asyncio.Event()
    calls: list[str] = []

    async def poll(url: str) -> None:
        calls.append(url)
        polled.set()

    schedule = FeedSchedule(poll, 300, 0, SystemClock(), random.Random(1))
    schedule.start([feed("a")])
    try:
        await asyncio.wait_for(polled.wait(), 30)
    finally:
        schedule.shutdown()
    assert calls == ["http://127.0.0.1:9/a"]
    assert schedule.scheduler.get_job("http://127.0.0.1:9/a").max_instances == 1


async def test_sync_adds_removes_and_changes_jobs():
    async def poll(url: str) -> None:
        return None

    schedule = FeedSchedule(poll, 300, 3600, SystemClock(), random.Random(1))
    schedule.sync([feed("a"), feed("b"), feed("c", enabled=False)])
    changes = schedule.sync([feed("b", interval="10m"), feed("d"), feed("c")])
    assert [url.rsplit("/", 1)[1] for url in changes.added] == ["d", "c"]
    assert [url.rsplit("/", 1)[1] for url in changes.removed] == ["a"]
    assert [url.rsplit("/", 1)[1] for url in changes.changed] == ["b"]
    assert schedule.jobs() == {f"http://127.0.0.1:9/{p}": i for p, i in (("b", 600), ("d", 300), ("c", 300))}


async def test_sighup_reloads_feeds_without_restart(redis, default_config):
    config = poller_config(default_config, ["http://127.0.0.1:9/a"], default_interval="1h", jitter="1h")
    reloaded = asyncio.Event()

    def load() -> list[FeedConfig]:
        reloaded.set()
        return [feed("b"), feed("c", interval="2h")]

    stop = asyncio.Event()
    async with running_poller(config, redis, SystemClock()) as poller:
        poller.schedule.rng = random.Random(7)
        running = asyncio.create_task(poller.run(stop, reload=load))
        while not poller.schedule.scheduler.running:
            await asyncio.sleep(0)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded.wait(), 30)
        jobs = poller.schedule.jobs()
        stop.set()
        await running
    assert jobs == {"http://127.0.0.1:9/b": 3600, "http://127.0.0.1:9/c": 7200}
    assert set(poller.feeds) == set(jobs)


async def test_a_bad_config_on_reload_keeps_the_running_feeds(redis, default_config):
    config = poller_config(default_config, ["http://127.0.0.1:9/a"], default_interval="1h", jitter="1h")

    def broken() -> list[FeedConfig]:
        raise ValueError("tripwire.yaml: feeds.0.url: 'ftp://x' is not valid")

    async with running_poller(config, redis) as poller:
        poller.schedule.sync(list(poller.feeds.values()))
        poller.reload(broken)
    assert list(poller.feeds) == ["http://127.0.0.1:9/a"]
    assert list(poller.schedule.jobs()) == ["http://127.0.0.1:9/a"]


async def test_stopping_waits_for_polls_in_flight(redis, default_config):
    arrived, release = threading.Event(), threading.Event()

    def slow(_request: ReceivedRequest) -> Reply:
        arrived.set()
        release.wait(30)
        return Reply(200, rss([story(1)]), {"Content-Type": "application/rss+xml"})

    stop = asyncio.Event()
    with LocalServer(slow) as server:
        url = f"{server.url}/feed"
        config = poller_config(default_config, [url])
        async with running_poller(config, redis, SystemClock()) as poller:
            running = asyncio.create_task(poller.run(stop))
            await asyncio.to_thread(arrived.wait, 30)
            stop.set()
            release.set()
            await running
            state = await poller.states.load(url)
    assert state.last_success is not None and state.items_published == 1

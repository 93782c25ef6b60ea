"""The poller as a whole on a real Redis: exactly-once publishing, restarts, replicas, Redis outages, feed health."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.poller.state import FeedStateStore
from shared.redis_server import RedisServer
from shared.streams import StreamNames
from tests.helpers import rss
from tests.poller.support import ManualClock, health_events, poller_config, published_items, running_poller, story
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, static_files


def versioned(feeds: dict[str, tuple[str, bytes]]):
    """Serves ``feeds[path] = (etag, body)``, answering 304 to a matching If-None-Match."""

    def respond(request: ReceivedRequest) -> Reply:
        etag, body = feeds[request.path]
        if request.headers.get("if-none-match") == etag:
            return Reply(304)
        return Reply(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})

    return respond


async def test_one_article_url_across_feeds_is_published_once_but_plain_guids_are_per_feed(redis, default_config):
    files = {
        "/a": rss([story(1), {"title": "Linked", "link": "https://news.example/x?utm_source=a"}]),
        "/b": rss([story(1), {"title": "Linked", "link": "https://NEWS.example/x?utm_source=b"}, story(2)]),
    }
    with LocalServer(static_files(files)) as server:
        config = poller_config(default_config, [f"{server.url}/a", f"{server.url}/b"])
        async with running_poller(config, redis) as poller:
            results = await poller.poll_all()
    items = await published_items(redis, config)
    # "Linked" is one article (one URL) in two feeds; guid "story-1" is each feed's own numbering: two items.
    assert sorted(item.title for item in items) == ["Linked", "Story 1", "Story 1", "Story 2"]
    assert sum(result.published for result in results) == 4
    assert sum(result.found for result in results) == 5


async def test_restart_keeps_validators_seen_items_and_counters(redis, default_config):
    feeds = {"/feed": ('"v1"', rss([story(1), story(2)]))}
    with LocalServer(versioned(feeds)) as server:
        url = f"{server.url}/feed"
        config = poller_config(default_config, [url])
        async with running_poller(config, redis) as first:
            await first.poll_all()
        async with running_poller(config, redis) as restarted:
            again = (await restarted.poll_all())[0]
            feeds["/feed"] = ('"v2"', rss([story(1), story(2), story(3)]))
            newer = (await restarted.poll_all())[0]
    assert again.not_modified and server.requests[1].headers["if-none-match"] == '"v1"'
    assert (newer.found, newer.published) == (3, 1)
    state = await FeedStateStore(redis, StreamNames(config.redis.stream_prefix)).load(url)
    assert (state.items_published, state.etag) == (3, '"v2"')
    assert len(await published_items(redis, config)) == 3


async def test_two_pollers_never_fetch_or_publish_a_feed_twice(redis, default_config):
    arrived, release = threading.Event(), threading.Event()

    def slow(request: ReceivedRequest) -> Reply:
        arrived.set()
        release.wait(30)
        return Reply(200, rss([story(1), story(2)]), {"Content-Type": "application/rss+xml"})

    with LocalServer(slow) as server:
        config = poller_config(default_config, [f"{server.url}/feed"])
        async with running_poller(config, redis) as replica_a, running_poller(config, redis) as replica_b:
            polling = asyncio.create_task(replica_a.poll_all())
            await asyncio.to_thread(arrived.wait, 30)
            while_locked = (await replica_b.poll_all())[0]
            release.set()
            first = (await polling)[0]
            both = await asyncio.gather(replica_a.poll_all(), replica_b.poll_all())
    assert while_locked.skipped == "another replica is polling it"
    assert first.published == 2
    assert sum(result[0].published for result in both) == 0
    assert len([item.id for item in await published_items(redis, config)]) == 2


async def test_redis_down_mid_poll_loses_nothing_and_does_not_crash(tmp_path: Path, default_config):
    feeds = {"/feed": ('"v1"', rss([story(1)]))}
    server_dir = tmp_path / "redis"
    redis_server = RedisServer(server_dir, appendonly=True)
    redis_server.start()
    port = redis_server.port
    stop_redis = threading.Event()

    def on_request(_request: ReceivedRequest) -> None:
        if stop_redis.is_set():
            stop_redis.clear()
            redis_server.stop()  # Redis goes away after the lock was taken, while the body is being fetched.

    client = Redis.from_url(redis_server.url)
    try:
        with LocalServer(versioned(feeds), on_request=on_request) as server:
            url = f"{server.url}/feed"
            config = poller_config(default_config, [url])
            async with running_poller(config, client) as poller:
                await poller.poll_all()
                feeds["/feed"] = ('"v2"', rss([story(1), story(2), story(3)]))
                stop_redis.set()
                during = (await poller.poll_all())[0]
                restarted = RedisServer(server_dir, port=port, appendonly=True)
                restarted.start()
                try:
                    # The interrupted poll's lock was saved; its expiry would free it, which a test cannot wait for.
                    await client.delete(poller.locks.key(url))
                    after = (await poller.poll_all())[0]
                    items = await published_items(redis=client, config=config)
                finally:
                    await client.aclose()
                    restarted.stop()
    finally:
        redis_server.stop()
    assert during.error and "Redis unavailable" in during.error
    assert poller.health.redis_ok
    # The validators did not move past the unpublished items: the next poll refetched the whole feed.
    assert server.requests[-1].headers["if-none-match"] == '"v1"'
    assert after.published == 2
    assert sorted(item.title for item in items) == ["Story 1", "Story 2", "Story 3"]


async def test_failing_then_recovered_is_reported_once_each(redis, default_config):
    healthy = threading.Event()

    def respond(_request: ReceivedRequest) -> Reply:
        if healthy.is_set():
            return Reply(200, rss([story(1)]), {"Content-Type": "application/rss+xml"})
        return Reply(500, b"down")

    with LocalServer(respond) as server:
        config = poller_config(default_config, [f"{server.url}/feed"], failure_threshold=3)
        async with running_poller(config, redis) as poller:
            for _ in range(5):
                await poller.poll_all()
            failing = await health_events(redis, config)
            healthy.set()
            await poller.poll_all()
            await poller.poll_all()
    events = await health_events(redis, config)
    assert [event.status for event in failing] == ["failing"]
    assert failing[0].consecutive_failures == 3 and "HTTP 500" in failing[0].message
    assert [event.status for event in events] == ["failing", "recovered"]
    assert events[1].feed.url == f"{server.url}/feed"


async def test_stale_feed_is_reported_once_and_recovers_with_a_new_item(redis, default_config):
    feeds = {"/feed": ('"v1"', rss([story(1)]))}
    clock = ManualClock()
    with LocalServer(versioned(feeds)) as server:
        config = poller_config(default_config, [f"{server.url}/feed"], stale_after="1h")
        async with running_poller(config, redis, clock) as poller:
            await poller.poll_all()
            clock.advance(1800)
            await poller.poll_all()
            clock.advance(3600)
            await poller.poll_all()
            await poller.poll_all()
            feeds["/feed"] = ('"v2"', rss([story(1), story(2)]))
            await poller.poll_all()
    assert [event.status for event in await health_events(redis, config)] == ["stale", "recovered"]


async def test_metrics_count_fetched_published_and_errors(redis, default_config):
    files = {"/ok": rss([story(1), story(2)]), "/html": b"<!DOCTYPE html><html><body>hi</body></html>"}
    with LocalServer(static_files(files)) as server:
        config = poller_config(default_config, [f"{server.url}/ok", f"{server.url}/html"])
        async with running_poller(config, redis) as poller:
            results = await poller.poll_all()
    assert results[1].error and "HTML page" in results[1].error

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert sample("tripwire_items_fetched_total", feed=f"{server.url}/ok") == 2
    assert sample("tripwire_items_published_total", feed=f"{server.url}/ok") == 2
    assert sample("tripwire_feed_errors_total", feed=f"{server.url}/html", reason="not_a_feed") == 1

"""Fetching rules against real HTTP servers on 127.0.0.1: conditional GET, redirects, 410, throttling, limits."""

from __future__ import annotations

import gzip
import zlib
from datetime import timedelta
from email.utils import format_datetime

from redis.asyncio import Redis

from services.poller.state import FeedStateStore
from shared.config import TripwireConfig
from shared.streams import StreamNames
from tests.helpers import rss
from tests.poller.support import DripServer, ManualClock, poller_config, published_items, running_poller, story
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

FEED = rss([story(1), story(2)])


def conditional(etag: str, last_modified: str, body: bytes = FEED):
    """A responder that answers 304 when both validators come back byte for byte."""

    def respond(request: ReceivedRequest) -> Reply:
        if request.headers.get("if-none-match") == etag and request.headers.get("if-modified-since") == last_modified:
            return Reply(304)
        return Reply(200, body, {"Content-Type": "application/rss+xml", "ETag": etag, "Last-Modified": last_modified})

    return respond


async def state_of(redis: Redis, config: TripwireConfig, url: str):
    return await FeedStateStore(redis, StreamNames(config.redis.stream_prefix)).load(url)


async def test_304_round_trip_sends_validators_byte_for_byte_and_publishes_nothing(redis, default_config):
    etag, modified = 'W/"ab c\\"123"', "Sat, 21 Nov 2026 08:00:00 GMT"
    with LocalServer(conditional(etag, modified)) as server:
        config = poller_config(default_config, [f"{server.url}/feed"])
        async with running_poller(config, redis) as poller:
            first = (await poller.poll_all())[0]
            second = (await poller.poll_all())[0]
    assert (first.published, first.not_modified) == (2, False)
    assert (second.published, second.not_modified, second.error) == (0, True, None)
    assert server.requests[1].headers["if-none-match"] == etag
    assert server.requests[1].headers["if-modified-since"] == modified
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert server.requests[0].headers["user-agent"].startswith("Tripwire/")
    assert len(await published_items(redis, config)) == 2


async def test_retry_after_seconds_sets_the_next_poll(redis, default_config):
    with LocalServer(lambda _r: Reply(429, b"slow down", {"Retry-After": "7200"})) as server:
        config = poller_config(default_config, [f"{server.url}/feed"], default_interval=60)
        clock = ManualClock()
        async with running_poller(config, redis, clock) as poller:
            result = (await poller.poll_all())[0]
            state = await state_of(redis, config, f"{server.url}/feed")
    assert result.error and "429" in result.error
    assert state.next_poll == clock.now() + timedelta(seconds=7200)
    assert state.consecutive_failures == 1


async def test_retry_after_http_date_is_honoured_and_capped(redis, default_config):
    clock = ManualClock()
    in_an_hour = format_datetime(clock.now() + timedelta(hours=1), usegmt=True)
    in_a_week = format_datetime(clock.now() + timedelta(days=7), usegmt=True)
    replies = iter([Reply(503, b"", {"Retry-After": in_an_hour}), Reply(503, b"", {"Retry-After": in_a_week})])
    with LocalServer(lambda _r: next(replies)) as server:
        url = f"{server.url}/feed"
        config = poller_config(default_config, [url], default_interval=60, max_backoff="6h")
        async with running_poller(config, redis, clock) as poller:
            await poller.poll_all()
            after_first = await state_of(redis, config, url)
            await poller.poll_all()
            after_second = await state_of(redis, config, url)
    assert after_first.next_poll == clock.now() + timedelta(hours=1)
    assert after_second.next_poll == clock.now() + timedelta(hours=6)


async def test_backoff_grows_and_scheduled_polls_wait_for_it(redis, default_config):
    with LocalServer(lambda _r: Reply(500, b"oops")) as server:
        url = f"{server.url}/feed"
        config = poller_config(default_config, [url], default_interval=60)
        clock = ManualClock()
        async with running_poller(config, redis, clock) as poller:
            delays = []
            for _ in range(3):
                await poller.poll_feed(config.feeds[0])
                delays.append(((await state_of(redis, config, url)).next_poll - clock.now()).total_seconds())
            skipped = await poller.poll_feed(config.feeds[0], respect_schedule=True)
    assert 60 <= delays[0] <= 75 and 120 <= delays[1] <= 150 and 240 <= delays[2] <= 300
    assert skipped.skipped and "backing off" in skipped.skipped
    assert len(server.requests) == 3


async def test_a_scheduled_poll_skips_a_feed_another_replica_just_polled(redis, default_config):
    with LocalServer(lambda _r: Reply(200, FEED, {"Content-Type": "application/rss+xml"})) as server:
        config = poller_config(default_config, [f"{server.url}/feed"], default_interval=600, adaptive=False)
        clock = ManualClock()
        async with running_poller(config, redis, clock) as replica_a, running_poller(config, redis, clock) as replica_b:
            await replica_a.poll_feed(config.feeds[0], respect_schedule=True)
            clock.advance(200)
            by_b = await replica_b.poll_feed(config.feeds[0], respect_schedule=True)
            clock.advance(400)
            by_a = await replica_a.poll_feed(config.feeds[0], respect_schedule=True)
    assert by_b.skipped == "polled recently (by another replica)"
    assert by_a.skipped is None
    assert len(server.requests) == 2


async def test_permanent_redirect_is_remembered_and_temporary_is_not(redis, default_config):
    def respond(request: ReceivedRequest) -> Reply:
        moves = {"/old": (301, "/mid"), "/mid": (308, "/new"), "/temp": (302, "/new")}
        if request.path in moves:
            status, target = moves[request.path]
            return Reply(status, b"", {"Location": target})
        return Reply(200, FEED, {"Content-Type": "application/rss+xml"})

    with LocalServer(respond) as server:
        config = poller_config(default_config, [f"{server.url}/old", f"{server.url}/temp"])
        async with running_poller(config, redis) as poller:
            await poller.poll_all()
            moved = await state_of(redis, config, f"{server.url}/old")
            temporary = await state_of(redis, config, f"{server.url}/temp")
            server.requests.clear()
            await poller.poll_feed(config.feeds[0])
    assert moved.moved_to == f"{server.url}/new"
    assert temporary.moved_to is None
    assert [request.path for request in server.requests] == ["/new"]
    items = await published_items(redis, config)
    assert {item.feed.url for item in items} <= {f"{server.url}/old", f"{server.url}/temp"}


async def test_more_than_five_redirects_is_an_error(redis, default_config):
    with LocalServer(lambda r: Reply(302, b"", {"Location": f"/hop{len(r.path)}"})) as server:
        config = poller_config(default_config, [f"{server.url}/start"])
        async with running_poller(config, redis) as poller:
            result = (await poller.poll_all())[0]
    assert result.error and "more than 5 redirects" in result.error
    assert len(server.requests) == 6


async def test_410_gone_disables_the_feed_and_reports_it(redis, default_config):
    with LocalServer(lambda _r: Reply(410, b"gone")) as server:
        url = f"{server.url}/feed"
        config = poller_config(default_config, [url])
        async with running_poller(config, redis) as poller:
            first = (await poller.poll_all())[0]
            second = (await poller.poll_all())[0]
            state = await state_of(redis, config, url)
    assert first.error and "410" in first.error
    assert second.skipped and "gone" in second.skipped
    assert state.gone and state.health == "failing"
    assert len(server.requests) == 1


async def test_body_over_the_size_cap_is_refused(redis, default_config):
    big = rss([story(n, description="x" * 2000) for n in range(600)])
    with LocalServer(lambda _r: Reply(200, big, {"Content-Type": "application/rss+xml"})) as server:
        config = poller_config(default_config, [f"{server.url}/feed"], max_body_bytes=1024 * 1024)
        async with running_poller(config, redis) as poller:
            result = (await poller.poll_all())[0]
    assert result.error and "larger than 1048576 bytes" in result.error
    assert await published_items(redis, config) == []


async def test_gzip_bomb_is_refused_after_decompression(redis, default_config):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    with LocalServer(lambda _r: Reply(200, bomb, {"Content-Encoding": "gzip"})) as server:
        config = poller_config(default_config, [f"{server.url}/feed"], max_body_bytes=1024 * 1024)
        async with running_poller(config, redis) as poller:
            result = (await poller.poll_all())[0]
    assert result.error and "larger than 1048576 bytes after decompression" in result.error


async def test_gzip_and_raw_deflate_bodies_are_decoded(redis, default_config):
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = {
        "/gzip": (gzip.compress(rss([story(1)])), "gzip"),
        "/deflate": (raw_deflate.compress(rss([story(2)])) + raw_deflate.flush(), "deflate"),
        "/zlib": (zlib.compress(rss([story(3)])), "deflate"),
    }

    def respond(request: ReceivedRequest) -> Reply:
        body, encoding = bodies[request.path]
        return Reply(200, body, {"Content-Encoding": encoding, "Content-Type": "application/rss+xml"})

    with LocalServer(respond) as server:
        config = poller_config(default_config, [server.url + path for path in bodies])
        async with running_poller(config, redis) as poller:
            results = await poller.poll_all()
    assert [result.published for result in results] == [1, 1, 1]


async def test_corrupt_gzip_and_unknown_encodings_are_feed_errors(redis, default_config):
    replies = {"/corrupt": (b"\x1f\x8b\x08\x00garbage-not-gzip", "gzip"), "/br": (b"\x0b\x02\x80", "br")}

    def respond(request: ReceivedRequest) -> Reply:
        body, encoding = replies[request.path]
        return Reply(200, body, {"Content-Encoding": encoding})

    with LocalServer(respond) as server:
        config = poller_config(default_config, [server.url + path for path in replies])
        async with running_poller(config, redis) as poller:
            results = await poller.poll_all()
    assert all(result.error and "undecodable body" in result.error for result in results)


async def test_slow_drip_body_hits_the_total_deadline(redis, default_config):
    with DripServer() as server:
        config = poller_config(default_config, [f"{server.url}/feed"], timeout="1s")
        async with running_poller(config, redis) as poller:
            result = (await poller.poll_all())[0]
    assert result.error and "within the 1 s deadline" in result.error

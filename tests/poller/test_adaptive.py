"""Adaptive polling on an injected clock: wires often, quiet feeds rarely, Retry-After and back-off still win."""

from __future__ import annotations

from datetime import timedelta

from services.poller.adaptive import adaptive_interval, poll_interval, publishing_rate, remember_publications
from shared.config import FeedConfig, PollerSettings
from shared.schemas import FeedRef, Item
from tests.helpers import pub_date, rss
from tests.poller.support import START, ManualClock, poller_config, running_poller
from tripwire.local_http import LocalServer, Reply

NOW = START.timestamp()


def item(n: int, age_seconds: float | None) -> Item:
    published = START - timedelta(seconds=age_seconds or 0)
    return Item(id=f"i{n}", feed=FeedRef(url="http://127.0.0.1:9/f"), title=f"T{n}", summary="", link=None,
                published=published, published_estimated=age_seconds is None, fetched_at=START)  # fmt: skip


def test_interval_follows_the_publishing_rate_within_the_bounds():
    wire = [NOW - 180 * k for k in range(20)]  # every 3 minutes
    hourly = [NOW - 3600 * k for k in range(24)]
    daily = [NOW - 86400 * k for k in range(7)]
    assert adaptive_interval(wire, NOW, 60, 3600) == 60  # 30 s wanted, bounded by min_interval
    assert 560 <= adaptive_interval(hourly, NOW, 60, 3600) <= 640  # a sixth of the hour between items
    assert adaptive_interval(daily, NOW, 60, 3600) == 3600
    assert adaptive_interval([], NOW, 60, 3600) == 3600
    assert publishing_rate([NOW - 1], NOW) == 1 / 600  # one item a second ago is not one a second


def test_publications_are_counted_once_and_undated_ones_only_after_the_first_poll():
    first = remember_publications([], [item(1, 60), item(2, 120), item(3, None)], 1, NOW, first_poll=True)
    again = remember_publications(first, [item(1, 60), item(2, 120), item(4, None)], 1, NOW + 300, first_poll=False)
    future = remember_publications([], [item(5, -3600)], 0, NOW, first_poll=False)
    stale = remember_publications([NOW - 8 * 86400], [], 0, NOW, first_poll=False)
    assert first == [NOW - 120, NOW - 60]
    assert again == [NOW - 120, NOW - 60, NOW + 300]
    assert future == [NOW] and stale == []


def test_push_live_and_a_configured_interval_decide_before_the_rate():
    settings = PollerSettings.model_validate({"websub": {"poll_interval": "2h"}})
    wire = [NOW - 180 * k for k in range(20)]
    plain, fixed = FeedConfig(url="http://a.example/"), FeedConfig(url="http://a.example/", interval="10m")
    assert poll_interval(plain, settings, wire, NOW, push_live=True) == 7200
    assert poll_interval(fixed, settings, wire, NOW, push_live=False) == 600
    assert poll_interval(plain, settings, wire, NOW, push_live=False) == 45
    off = PollerSettings.model_validate({"adaptive": False, "default_interval": "5m"})
    assert poll_interval(plain, off, wire, NOW, push_live=False) == 300


async def test_a_wire_is_polled_every_minute_then_less_as_it_goes_quiet_and_retry_after_wins(redis, default_config):
    wire = rss([{"title": f"W{k}", "guid": f"w{k}", "pubDate": pub_date(START - timedelta(minutes=3 * k))}
                for k in range(20)])  # fmt: skip
    ok = Reply(200, wire, {"Content-Type": "application/rss+xml"})
    replies = [ok, ok, Reply(429, b"", {"Retry-After": "900"})]
    with LocalServer(lambda _r: replies.pop(0)) as server:
        url = f"{server.url}/wire"
        config = poller_config(default_config, [url], min_interval="1m", max_interval="1h")
        clock = ManualClock()
        async with running_poller(config, redis, clock) as poller:
            poller.schedule.sync(list(poller.feeds.values()))
            await poller.poll_feed(config.feeds[0])
            busy = (await poller.states.load(url)).poll_interval, poller.schedule.jobs()[url]
            clock.advance(3 * 3600)  # three quiet hours: 20 items in 4 h is one per 12 min
            await poller.poll_feed(config.feeds[0])
            quiet = (await poller.states.load(url)).poll_interval
            await poller.poll_feed(config.feeds[0])
            throttled = await poller.states.load(url)
            clock.advance(300)
            skipped = await poller.poll_feed(config.feeds[0], respect_schedule=True)
    assert busy == (60, 60)
    assert quiet is not None and 110 <= quiet <= 127
    assert throttled.next_poll == clock.now() - timedelta(seconds=300) + timedelta(seconds=900)
    assert skipped.skipped and "backing off" in skipped.skipped and len(server.requests) == 3

"""Reproduction 5 of issue 25: health that tells the truth at once. A feed whose last poll failed shows as failing
from the first failure (the alert threshold only decides when to page someone), and a feed quiet for longer than its
stale_after shows as stale at once, on the console's Overview and in `tripwire feeds`."""

from __future__ import annotations

from datetime import timedelta

from redis.asyncio import Redis

from services.poller.feed_health import current_status
from services.poller.state import FeedState, FeedStateStore
from shared.config import FeedConfig, TripwireConfig
from shared.streams import StreamNames
from tests.helpers import config_with
from tests.notifier.support import T0
from tests.poller.support import poller_config, running_poller
from tripwire.cli_feeds import feed_rows, render_table
from tripwire.console.overview import read_overview

DAY = 86400.0
NAMES = StreamNames("tripwire:")


def status(state: FeedState, *, enabled: bool = True, stale_after: float = 3 * DAY) -> str:
    return current_status(state, enabled=enabled, now=T0, stale_after=stale_after)


def test_one_failed_poll_is_failing_below_the_alert_threshold():
    state = FeedState(url="https://a.example/rss", consecutive_failures=1, last_success=T0 - timedelta(hours=2),
                      last_new_item=T0 - timedelta(hours=2), last_error="HTTP 503")  # fmt: skip
    assert state.health == "ok"  # the poller has not alerted (failure_threshold: 5)
    assert status(state) == "failing"


def test_quiet_longer_than_stale_after_is_stale_before_the_poller_noticed():
    quiet = FeedState(url="https://a.example/rss", last_success=T0, last_new_item=T0 - timedelta(days=4))
    assert quiet.health == "ok"
    assert status(quiet) == "stale"
    assert status(quiet, stale_after=0) == "ok"  # stale_after: 0 means never
    assert status(quiet, stale_after=5 * DAY) == "ok"


def test_the_other_words_keep_their_order():
    failing_and_quiet = FeedState(url="u", consecutive_failures=2, last_new_item=T0 - timedelta(days=9))
    assert status(failing_and_quiet) == "failing"
    assert status(failing_and_quiet, enabled=False) == "disabled"
    assert status(FeedState(url="u", gone=True, consecutive_failures=1)) == "gone"
    assert status(FeedState(url="u")) == "new"
    assert status(FeedState(url="u", last_success=T0, last_new_item=T0)) == "ok"


def test_the_table_puts_the_consecutive_failures_beside_failing():
    feeds = [FeedConfig(url="https://a.example/rss", name="SANA"), FeedConfig(url="https://b.example/rss", name="B",
             stale_after=DAY)]  # fmt: skip
    states = [FeedState(url=feeds[0].url, consecutive_failures=3),
              FeedState(url=feeds[1].url, last_success=T0, last_new_item=T0 - timedelta(days=2))]  # fmt: skip
    rows = feed_rows(feeds, states, now=T0, stale_after=3 * DAY)
    assert [row["status"] for row in rows] == ["failing", "stale"]  # B's own stale_after (1 day) wins
    lines = render_table(rows).splitlines()
    assert "failing (3 in a row)" in lines[1] and " stale " in lines[2]


async def test_the_overview_counts_every_feed_whose_last_poll_failed(default_config: TripwireConfig, redis: Redis):
    feeds = [{"url": f"https://outlet{n}.example/rss", "name": f"Outlet {n}"} for n in range(4)]
    config = config_with(default_config, feeds=feeds)
    store = FeedStateStore(redis, NAMES)
    # No network: every poll fails; back-off spaced them out, so only one or two failures each after an hour.
    for n, failures in enumerate((1, 2, 1)):
        await store.save(FeedState(url=feeds[n]["url"], consecutive_failures=failures, last_error="ConnectError"))
    await store.save(FeedState(url=feeds[3]["url"], last_success=T0, last_new_item=T0 - timedelta(days=4)))
    overview = await read_overview(redis, config, NAMES, T0)
    assert (overview.failing, overview.stale, overview.feeds) == (3, 1, 4)
    assert overview.failing_summary == "Outlet 1 (2), Outlet 0 (1), Outlet 2 (1)"


async def test_a_refused_feed_is_failing_at_once_and_its_error_names_the_setting(
    default_config: TripwireConfig, redis: Redis
):
    # The outbound guard refuses 10.0.0.5 before connecting: no traffic leaves the machine.
    config = config_with(poller_config(default_config, ["http://10.0.0.5/feed"]), network={"allow_private": []})
    async with running_poller(config, redis) as poller:
        await poller.poll_all()
        state = await poller.states.load("http://10.0.0.5/feed")
    [row] = feed_rows(list(config.feeds), [state], now=T0, stale_after=3 * DAY)
    assert (row["status"], row["consecutive_failures"]) == ("failing", 1)
    assert "10.0.0.5 is a private address; allow it with network.allow_private: [10.0.0.0/8]" in row["last_error"]

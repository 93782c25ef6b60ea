"""Answers from hostile hubs, receivers, feeds and article pages are read through the one capped reader under a
total deadline (issue 26, item 3): a 200 MiB gzip bomb costs a few KiB, a drip ends at the deadline."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from services.notifier.channel import post_url
from services.poller.fetch import FeedFetchError, Fetcher, Validators
from shared.config import TripwireConfig
from shared.http import make_http_client
from tests.helpers import LOOPBACK, config_with
from tests.poller.support import START, ManualClock, running_poller
from tests.security.hostile import MiB, memory_peak
from tests.security.hostile_peers import BOMB_BYTES, HostileServer, gzip_bomb
from tests.security.limits import documented

BOUND = 32 * MiB  # traced Python memory; the bombs inflate to BOMB_BYTES (200 MiB)


@pytest.fixture(scope="module")
def bomb_ready() -> None:
    gzip_bomb(BOMB_BYTES)  # built once, outside the measured blocks


async def test_a_hub_answering_with_a_gzip_bomb_costs_an_excerpt(redis: Redis, default_config: TripwireConfig,
                                                                  bomb_ready: None):  # fmt: skip
    # Item 3: main read the hub's whole answer through httpx to quote 200 characters: 53 -> 678 MB.
    with HostileServer() as hostile:
        websub = {"callback_url": "http://127.0.0.1:9/websub", "listen": "127.0.0.1:0"}
        config = config_with(default_config, feeds=[{"url": f"{hostile.url}/feed.xml"}],
                             poller={"jitter": 0, "fulltext_below": 0, "websub": websub})  # fmt: skip
        async with running_poller(config, redis, ManualClock()) as poller:
            await poller.poll_all()
            with memory_peak() as peak:
                await poller.websub_tick()
            record = await poller.websub.store.by_feed(config.feeds[0].url)  # type: ignore[union-attr]
    assert record is not None and record.failures == 1 and "HTTP 400 from hub" in (record.last_error or "")
    assert peak.bytes < BOUND, f"peak {peak.bytes} bytes"


async def test_a_receiver_answering_with_a_gzip_bomb_costs_an_excerpt(bomb_ready: None):
    cap = documented("receiver answer cap")
    with HostileServer() as hostile:
        async with make_http_client(LOOPBACK, timeout=10, user_agent="test") as http:
            with memory_peak() as peak:
                result = await post_url(http, f"{hostile.url}/hub", START, content="{}", headers={}, error_detail=True)
    assert result.status == 400 and not result.retryable  # the status still decides
    assert peak.bytes < BOUND and cap <= BOUND


async def test_a_dripping_receiver_ends_at_the_total_deadline():
    with HostileServer() as hostile:
        async with make_http_client(LOOPBACK, timeout=1, user_agent="test") as http:
            result = await post_url(http, f"{hostile.url}/drip", START, content="{}", headers={}, error_detail=True)
    assert result.retryable and result.category == "timeout"


@pytest.mark.parametrize(
    ("path", "reasons"),
    [
        ("/bomb", {"too_large"}),
        ("/drip", {"timeout"}),
        ("/endless-headers", {"timeout", "network"}),
        ("/huge-headers", {"network"}),
        ("/loop", {"redirect"}),
        ("/brotli", {"encoding"}),
    ],
)
async def test_feeds_and_articles_that_misbehave_fail_in_bounded_time_and_memory(
    default_config: TripwireConfig, bomb_ready: None, path: str, reasons: set[str]
):
    config = config_with(default_config, poller={"timeout": 2})
    with HostileServer() as hostile:
        async with make_http_client(config.network, timeout=2, user_agent="test") as http:
            fetcher = Fetcher(http, config.poller)
            with memory_peak() as peak, pytest.raises(FeedFetchError) as failed:
                await fetcher.fetch(f"{hostile.url}{path}", Validators(), START)
    assert failed.value.reason in reasons, str(failed.value)
    assert peak.bytes < BOUND

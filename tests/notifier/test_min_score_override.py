"""A subscription's min_score saved from the console (a Redis override) decides routing from the next alert on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from services.notifier.overrides import clear_min_score, load_min_scores, min_scores_key, save_min_score
from services.notifier.routing import route
from shared.config import SubscriptionConfig, TripwireConfig
from shared.streams import StreamNames
from tests.notifier.support import PREFIX, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames(PREFIX)


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    """A receiver that accepts everything."""
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        yield server


def test_route_uses_an_override_in_place_of_the_configured_min_score() -> None:
    subs = [
        SubscriptionConfig(name="strict", type="webhook", url="https://a.example/h", min_score=0.95),
        SubscriptionConfig(name="open", type="webhook", url="https://b.example/h"),
    ]
    alert = make_alert(1, score=0.8)
    assert [s.name for s in route(subs, alert)] == ["open"]
    assert [s.name for s in route(subs, alert, min_scores={"strict": 0.5, "open": 0.9})] == ["strict"]
    assert [s.name for s in route(subs, alert, min_scores={"strict": 0.0})] == ["strict", "open"]


async def test_notifier_honours_a_saved_min_score_from_its_next_alert_on(
    redis: Redis, http: httpx.AsyncClient, receiver: LocalServer, default_config: TripwireConfig
) -> None:
    config = notifier_config(
        default_config, [sub("strict", f"{receiver.url}/strict", min_score=0.95), sub("open", f"{receiver.url}/open")]
    )
    notifier = make_notifier(config, redis, http, FakeClock())
    await save_min_score(redis, NAMES, "strict", 0.5)
    await save_min_score(redis, NAMES, "open", 0.9)
    await publish_messages(redis, make_alert(1, score=0.8))
    await notifier.run(asyncio.Event(), drain=True)
    assert [request.path for request in receiver.requests] == ["/strict"]
    # Cleared: the same running notifier routes its next alert by the config again.
    assert await clear_min_score(redis, NAMES, "strict") and await clear_min_score(redis, NAMES, "open")
    await publish_messages(redis, make_alert(2, score=0.8))
    await notifier.run(asyncio.Event(), drain=True)
    assert [request.path for request in receiver.requests] == ["/strict", "/open"]


async def test_unreadable_or_out_of_range_overrides_leave_the_config_in_charge(redis: Redis) -> None:
    await redis.hset(min_scores_key(NAMES), mapping={"a": "high", "b": "1.5", "c": "0.7"})
    assert await load_min_scores(redis, NAMES) == {"c": 0.7}
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        await save_min_score(redis, NAMES, "a", -0.1)

"""Digest mode and quiet hours: held durably, then sent as one message, most relevant first."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
from redis.asyncio import Redis
from slack_sdk.models.blocks import Block

from services.notifier.schedule import hold_until, in_quiet_hours, quiet_hours_end
from shared.config import SubscriptionConfig, TripwireConfig
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply

QUIET = {"start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}


def test_quiet_hours_cross_midnight_in_the_subscription_time_zone():
    from shared.config.subscriptions import QuietHours

    quiet = QuietHours(**QUIET)
    # 21:30 UTC is 22:30 in Paris (CET, UTC+1, in November).
    assert in_quiet_hours(quiet, datetime(2026, 11, 21, 21, 30, tzinfo=UTC))
    assert in_quiet_hours(quiet, datetime(2026, 11, 22, 5, 59, tzinfo=UTC))
    assert not in_quiet_hours(quiet, datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
    assert not in_quiet_hours(quiet, datetime(2026, 11, 21, 20, 59, tzinfo=UTC))
    assert quiet_hours_end(quiet, datetime(2026, 11, 21, 21, 30, tzinfo=UTC)) == datetime(2026, 11, 22, 6, tzinfo=UTC)


def test_immediate_subscription_is_held_only_in_quiet_hours():
    subscription = SubscriptionConfig(name="s", type="slack", url="http://127.0.0.1/x", quiet_hours=QUIET)  # type: ignore[arg-type]
    assert hold_until(subscription, datetime(2026, 11, 21, 12, tzinfo=UTC)) is None
    assert hold_until(subscription, datetime(2026, 11, 21, 23, tzinfo=UTC)) == datetime(2026, 11, 22, 6, tzinfo=UTC)


async def test_digest_mode_sends_one_message_per_interval_most_relevant_first(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        config = notifier_config(
            default_config,
            [sub("digest-chat", f"{server.url}/slack", "slack", mode="digest", digest_interval="10m"),
             sub("digest-hook", f"{server.url}/hook", mode="digest", digest_interval="10m")],
        )  # fmt: skip
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, make_alert(1, score=0.6), make_alert(2, score=0.9), make_alert(3, score=0.7))
        await notifier.run(asyncio.Event(), drain=True)
        assert server.requests == []
        await publish_messages(redis, make_alert(2, score=0.9))  # read twice: still one entry in the digest
        clock.advance(599)
        await notifier.run(asyncio.Event(), drain=True)
        assert server.requests == []
        clock.advance(1)
        await notifier.run(asyncio.Event(), drain=True)
        await publish_messages(redis, make_alert(1, score=0.6))  # already sent in a digest: not held again
        clock.advance(600)
        await notifier.run(asyncio.Event(), drain=True)
    by_path = {r.path: r for r in server.requests}
    assert len(server.requests) == 2
    hook = json.loads(by_path["/hook"].body)
    assert hook["type"] == "digest"
    assert [a["score"] for a in hook["data"]["alerts"]] == [0.9, 0.7, 0.6]
    slack = json.loads(by_path["/slack"].body)
    Block.parse_all(slack["blocks"])
    assert slack["blocks"][0]["text"]["text"].startswith("3 alerts")


async def test_quiet_hours_hold_alerts_then_send_one_digest_when_they_end(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as server:
        config = notifier_config(default_config, [sub("night", f"{server.url}/h", quiet_hours=QUIET)])
        clock = FakeClock(datetime(2026, 11, 21, 22, 0, tzinfo=UTC))  # 23:00 in Paris
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, make_alert(1), make_alert(2))
        await notifier.run(asyncio.Event(), drain=True)
        clock.advance(7 * 3600 + 59 * 60)  # 06:59 in Paris
        await notifier.run(asyncio.Event(), drain=True)
        assert server.requests == []
        clock.advance(60)
        await notifier.run(asyncio.Event(), drain=True)
        await publish_messages(redis, make_alert(3))  # after quiet hours: immediate again
        await notifier.run(asyncio.Event(), drain=True)
    bodies = [json.loads(r.body) for r in server.requests]
    assert [b["type"] for b in bodies] == ["digest", "alert"]
    assert len(bodies[0]["data"]["alerts"]) == 2


async def test_long_digest_is_split_within_limits_and_a_413_splits_instead_of_dead_lettering(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # 45 alerts held: digests of at most 20 (Slack shows 21 per message). The receiver takes at most 12 alerts per
    # body and answers 413 above that: each too-large digest is split in halves, nothing is dead-lettered.
    def limited(request) -> Reply:  # type: ignore[no-untyped-def]
        alerts = json.loads(request.body)["data"]["alerts"]
        return Reply(413, b"too large") if len(alerts) > 12 else Reply(204)

    with LocalServer(limited) as server:
        config = notifier_config(
            default_config, [sub("digest-hook", f"{server.url}/hook", mode="digest", digest_interval="10m")]
        )
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, *(make_alert(n) for n in range(45)))
        await notifier.run(asyncio.Event(), drain=True)
        clock.advance(600)
        await notifier.run(asyncio.Event(), drain=True)
        bodies = [json.loads(r.body)["data"]["alerts"] for r in server.requests]
    assert max(len(alerts) for alerts in bodies) <= 20
    # The receiver accepted only bodies of at most 12 alerts: the ids it accepted, counted as a list, are each of the
    # 45 exactly once (a split that sent one alert twice and dropped another would fail here).
    accepted = sorted(alert["id"] for alerts in bodies if len(alerts) <= 12 for alert in alerts)
    assert accepted == sorted(f"alert-{n}-us_russia_standoff" for n in range(45)), "every alert delivered once"
    assert await redis.xlen("tripwire:dlq") == 0

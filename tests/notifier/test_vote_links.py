"""Every delivered alert carries two signed vote links: Slack (incoming webhook and bot), webhooks, digests."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from standardwebhooks import Webhook

from shared.config import ConsoleSettings, TripwireConfig
from shared.mute_links import MUTE_LINK_SECONDS, verify_mute
from shared.schemas import Alert, FeedRef
from shared.votes import VOTES, VoteClaim, VoteLinkError, verify_vote
from tests.notifier.support import SECRET, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tests.notifier.test_slack_format import all_text, check_message
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

CONSOLE = "https://tripwire.example.com/console"
VOTE_SECRET = "vote-secret-for-tests-0123456789"
TTL = 3 * 86400
SLACK_LINK = re.compile(r"<([^|>]+)\|(Relevant|Not relevant)>")


def with_votes(config: TripwireConfig) -> TripwireConfig:
    """``config`` with console.url and the vote secret set: alerts carry vote links."""
    console = ConsoleSettings(url=CONSOLE, vote_secret=VOTE_SECRET, vote_link_ttl=TTL)  # type: ignore[arg-type]
    return config.model_copy(update={"console": console})


def assert_signed_links(urls: dict[str, str], alert: Alert, delivered_at: datetime) -> None:
    """Both links point at the console, verify with the secret and say this alert, topic, vote and expiry."""
    assert set(urls) == set(VOTES)
    expires = int(delivered_at.timestamp() + TTL)
    for vote, url in urls.items():
        assert url.startswith(f"{CONSOLE}/vote/link?t=")
        token = url.split("?t=", 1)[1]
        claim = verify_vote(VOTE_SECRET.encode(), token, delivered_at.timestamp())
        assert claim == VoteClaim(alert.id, alert.topic, vote, expires)  # type: ignore[arg-type]
        with pytest.raises(VoteLinkError, match="expired"):
            verify_vote(VOTE_SECRET.encode(), token, expires + 1)


def slack_vote_links(text: str) -> dict[str, str]:
    """The vote links in a Slack mrkdwn text, by vote ("&amp;" unescaped as Slack does)."""
    found = {label: html.unescape(url) for url, label in SLACK_LINK.findall(text)}
    return {"relevant": found["Relevant"], "not_relevant": found["Not relevant"]} if found else {}


def slack_body(request: ReceivedRequest) -> dict[str, Any]:
    """A Slack message as posted, checked with slack-sdk's Block Kit models; previews are always off."""
    body: dict[str, Any] = json.loads(request.body)
    check_message(body)
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    return body


async def test_slack_alerts_carry_both_links_in_a_context_block(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        config = with_votes(notifier_config(default_config, [sub("chat", f"{server.url}/slack", "slack")]))
        clock = FakeClock()
        clock.advance(3600)  # delivery time, not alert time, starts the link's lifetime
        alert = make_alert(1)
        await publish_messages(redis, alert)
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
    [request] = server.requests
    body = slack_body(request)
    last = body["blocks"][-1]
    assert last["type"] == "context" and last["elements"][0]["text"].startswith("Vote: <https://tripwire.example.com/")
    assert "> · <" in last["elements"][0]["text"]
    assert_signed_links(slack_vote_links(all_text(body)), alert, clock.now())


def story_alert(n: int, story: str, event: str, sources: int) -> Alert:
    """An alert that starts (story.new) or updates (story.update) a story."""
    alert = make_alert(n, feed=FeedRef(url=f"https://outlet{n}.example/rss", title=f"Outlet {n}"))
    return alert.model_copy(update={"story_id": story, "event": event, "story_sources": sources, "story_title": story})


async def test_slack_bot_messages_and_story_updates_carry_links_too(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    answer = json.dumps({"ok": True, "ts": "1700000000.000001"}).encode()
    with LocalServer(lambda _r: Reply(200, answer)) as server:
        subs = [{"name": "app", "type": "slack", "bot_token": "xoxb-not-real", "channel": "C1", "updates": "each"}]
        config = with_votes(notifier_config(default_config, subs, slack_api_url=f"{server.url}/api"))
        clock = FakeClock()
        first, update = story_alert(1, "s1", "story.new", 1), story_alert(2, "s1", "story.update", 2)
        await publish_messages(redis, first)
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
        await publish_messages(redis, update)
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
    bodies = [slack_body(request) for request in server.requests]
    assert [request.path for request in server.requests] == ["/api/chat.postMessage"] * 2
    assert "thread_ts" not in bodies[0] and bodies[1]["thread_ts"] == "1700000000.000001"
    assert bodies[1]["text"].startswith("Story update")
    for body, alert in zip(bodies, (first, update), strict=True):
        assert_signed_links(slack_vote_links(all_text(body)), alert, clock.now())


async def test_webhook_alerts_carry_vote_urls_and_still_verify(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as server:
        config = with_votes(notifier_config(default_config, [sub("hook", f"{server.url}/hook", updates="each")]))
        clock = FakeClock()
        alert, update = make_alert(1), story_alert(2, "s1", "story.update", 2)
        await publish_messages(redis, alert, update)
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
    payloads = [Webhook(SECRET).verify(request.body, request.headers) for request in server.requests]
    assert sorted(payload["type"] for payload in payloads) == ["alert", "story.update"]
    for payload in payloads:
        data = payload["data"]
        sent = alert if data["id"] == alert.id else update
        assert_signed_links(data.pop("vote_urls"), sent, clock.now())
        # A story's alert links to its timeline in the console (a plain page behind the login, not a capability).
        story_url = data.pop("story_url", None)
        assert story_url == (f"{config.console.url}/stories/{sent.story_id}" if sent.story_id else None)
        # A story's alert carries a signed link that mutes the story (a day), under its own signing context.
        mute = data.pop("mute_url", None)
        if sent.story_id:
            assert mute is not None and mute.startswith(f"{config.console.url}/mute/link?t=")
            claim = verify_mute(VOTE_SECRET.encode(), mute.split("t=", 1)[1], clock.now().timestamp())
            assert (claim.story_id, claim.duration_seconds) == (sent.story_id, MUTE_LINK_SECONDS)
            with pytest.raises(VoteLinkError, match="signature"):  # a mute token is no vote token
                verify_vote(VOTE_SECRET.encode(), mute.split("t=", 1)[1], clock.now().timestamp())
        else:
            assert mute is None
        assert data == json.loads(sent.to_json())  # additive: the rest is the alert as before


async def test_each_alert_of_a_digest_carries_its_own_links(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        subs = [
            sub("digest-chat", f"{server.url}/slack", "slack", mode="digest", digest_interval="10m"),
            sub("digest-hook", f"{server.url}/hook", mode="digest", digest_interval="10m"),
        ]
        config = with_votes(notifier_config(default_config, subs))
        clock = FakeClock()
        clock.advance(-600)  # the digest goes out at the real time, so receivers accept its signature
        alerts = {alert.id: alert for alert in (make_alert(1, score=0.6), make_alert(2, score=0.9))}
        await publish_messages(redis, *alerts.values())
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
        clock.advance(600)
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
    by_path = {request.path: request for request in server.requests}
    hook = Webhook(SECRET).verify(by_path["/hook"].body, by_path["/hook"].headers)
    assert hook["type"] == "digest" and len(hook["data"]["alerts"]) == 2
    for data in hook["data"]["alerts"]:
        assert_signed_links(data["vote_urls"], alerts[data["id"]], clock.now())
    slack = slack_body(by_path["/slack"])
    contexts = [block for block in slack["blocks"] if block["type"] == "context" and len(block["elements"]) == 2]
    assert len(contexts) == 2  # one per alert: the links ride in the alert's context block, costing no block
    ranked = sorted(alerts.values(), key=lambda alert: alert.score, reverse=True)
    for block, alert in zip(contexts, ranked, strict=True):
        assert_signed_links(slack_vote_links(block["elements"][1]["text"]), alert, clock.now())


async def test_without_console_url_alerts_carry_no_links(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        subs = [sub("chat", f"{server.url}/slack", "slack"), sub("hook", f"{server.url}/hook")]
        config = notifier_config(default_config, subs)
        # A vote secret alone (the console verifies links) does not make the notifier send any.
        config = config.model_copy(update={"console": ConsoleSettings(vote_secret=VOTE_SECRET)})  # type: ignore[arg-type]
        await publish_messages(redis, make_alert(1))
        await make_notifier(config, redis, http, FakeClock()).run(asyncio.Event(), drain=True)
    by_path = {request.path: request for request in server.requests}
    assert "vote_urls" not in json.loads(by_path["/hook"].body)["data"]
    slack = slack_body(by_path["/slack"])
    assert "/vote/link" not in json.dumps(slack) and slack_vote_links(all_text(slack)) == {}

"""Slack with a bot token: story updates reply in the thread of the story's first message (a local fake Slack API)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading

import httpx
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from shared.config import SubscriptionConfig, TripwireConfig
from shared.schemas import Alert, FeedRef
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

TOKEN = "xoxb-test-token-not-real"


def story_alert(n: int, story: str, event: str, sources: int) -> Alert:
    alert = make_alert(n, feed=FeedRef(url=f"https://outlet{n}.example/rss", title=f"Outlet {n}"))
    return alert.model_copy(update={"story_id": story, "event": event, "story_sources": sources, "story_title": story})


def fake_slack_api() -> tuple[LocalServer, list[ReceivedRequest]]:
    """A server answering chat.postMessage like Slack: ok with a fresh ts, or not_in_channel for channel C-bad."""
    counter, lock = itertools.count(1), threading.Lock()
    seen: list[ReceivedRequest] = []

    def respond(request: ReceivedRequest) -> Reply:
        with lock:
            seen.append(request)
            if json.loads(request.body)["channel"] == "C-bad":
                return Reply(200, b'{"ok": false, "error": "not_in_channel"}')
            return Reply(200, json.dumps({"ok": True, "ts": f"1700000000.{next(counter):06d}"}).encode())

    return LocalServer(respond), seen


async def test_updates_thread_under_the_story_first_message(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    server, seen = fake_slack_api()
    with server:
        subs = [{"name": "app", "type": "slack", "bot_token": TOKEN, "channel": "C1", "updates": "each"}]
        config = notifier_config(default_config, subs, slack_api_url=f"{server.url}/api")
        notifier = make_notifier(config, redis, http, FakeClock())
        await publish_messages(redis, story_alert(1, "s1", "story.new", 1), story_alert(2, "s2", "story.new", 1))
        await notifier.run(asyncio.Event(), drain=True)
        await publish_messages(redis, story_alert(3, "s1", "story.update", 2), story_alert(4, "s2", "story.update", 2))
        await notifier.run(asyncio.Event(), drain=True)

    assert {request.path for request in seen} == {"/api/chat.postMessage"}
    assert all(request.headers["authorization"] == f"Bearer {TOKEN}" for request in seen)
    bodies = [json.loads(request.body) for request in seen]
    assert len(bodies) == 4
    assert all(body["channel"] == "C1" and "thread_ts" not in body for body in bodies[:2])
    # Each story's first message got ts 1700000000.00000<n> in posting order; its update replies under it.
    parent = {
        ("s1" if "number 1" in body["text"] else "s2"): f"1700000000.{n:06d}" for n, body in enumerate(bodies[:2], 1)
    }
    for body in bodies[2:]:
        story = body["text"].removeprefix("Story update: ")
        assert body["thread_ts"] == parent[story]


async def test_a_slack_api_error_is_final_and_named(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    server, _seen = fake_slack_api()
    with server:
        subs = [{"name": "app", "type": "slack", "bot_token": TOKEN, "channel": "C-bad"}]
        config = notifier_config(default_config, subs, slack_api_url=f"{server.url}/api")
        notifier = make_notifier(config, redis, http, FakeClock())
        await publish_messages(redis, story_alert(1, "s1", "story.new", 1))
        await notifier.run(asyncio.Event(), drain=True)
    [(_, fields)] = await redis.xrange("tripwire:dlq")
    letter = json.loads(fields[b"data"])
    assert "not_in_channel" in json.dumps(letter) and TOKEN not in json.dumps(letter)


def test_bot_token_config_is_checked():
    with pytest.raises(ValidationError, match="bot_token needs channel"):
        SubscriptionConfig.model_validate({"name": "a", "type": "slack", "bot_token": TOKEN})
    with pytest.raises(ValidationError, match="not both"):
        SubscriptionConfig.model_validate(
            {"name": "a", "type": "slack", "bot_token": TOKEN, "channel": "C1", "url": "https://hooks.example/x"}
        )
    sub = SubscriptionConfig.model_validate({"name": "a", "type": "slack", "bot_token": TOKEN, "channel": "C1"})
    assert sub.has_url and TOKEN not in repr(sub)

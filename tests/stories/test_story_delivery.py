"""Story updates in the notifier: none, digest or each; a short Slack message; a story.update webhook event."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis
from slack_sdk.models.blocks import Block

from services.notifier.slack_format import story_update_message
from shared.config import TripwireConfig
from shared.schemas import Alert, FeedRef
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply


def story_alert(n: int, event: str, sources: int) -> Alert:
    alert = make_alert(n, feed=FeedRef(url=f"https://outlet{n}.example/rss", title=f"Outlet {n} &amp; Co"))
    update = {"story_id": "s1", "event": event, "story_sources": sources, "story_title": "Standoff near Derik"}
    return alert.model_copy(update=update)


def test_slack_update_is_short_and_names_story_source_and_count():
    message = story_update_message(story_alert(2, "story.update", 3))
    Block.parse_all(message["blocks"])
    assert len(message["blocks"]) == 1
    text = message["blocks"][0]["elements"][0]["text"]
    assert "Standoff near Derik" in text and "3 sources so far" in text
    assert "Outlet 2 &amp; Co" in text  # feed text decoded, then escaped again
    assert message["text"] == "Story update: Standoff near Derik"


async def test_updates_each_none_and_digest(redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig):
    with LocalServer(lambda _r: Reply(200, b"ok")) as server:
        config = notifier_config(
            default_config,
            [sub("each", f"{server.url}/each", updates="each"),
             sub("none", f"{server.url}/none", updates="none"),
             sub("digest", f"{server.url}/digest"),
             sub("chat", f"{server.url}/chat", "slack", updates="each")],
        )  # fmt: skip
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, story_alert(1, "story.new", 1))
        await publish_messages(redis, story_alert(2, "story.update", 2), story_alert(3, "story.update", 3))
        await notifier.run(asyncio.Event(), drain=True)
        first = [(r.path, json.loads(r.body)) for r in server.requests]
        clock.advance(1799)
        await notifier.run(asyncio.Event(), drain=True)
        assert len(server.requests) == len(first)
        clock.advance(1)
        await notifier.run(asyncio.Event(), drain=True)
        later = [(r.path, json.loads(r.body)) for r in server.requests[len(first) :]]

    paths = sorted(path for path, _ in first)
    assert paths == ["/chat", "/chat", "/chat", "/digest", "/each", "/each", "/each", "/none"]
    each = [body for path, body in first if path == "/each"]
    assert [body["type"] for body in each].count("story.update") == 2
    update = next(body for body in each if body["type"] == "story.update")
    assert update["story_id"] == "s1" and update["data"]["story_sources"] in (2, 3)
    new = next(body for body in each if body["type"] == "alert")
    assert new["data"]["story_id"] == "s1" and new["data"]["event"] == "story.new"
    chat_updates = [body for path, body in first if path == "/chat" and len(body["blocks"]) == 1]
    assert len(chat_updates) == 2
    # updates: digest: both updates in one message once the interval is over.
    assert [(path, body["type"]) for path, body in later] == [("/digest", "digest")]
    assert sorted(a["story_sources"] for a in later[0][1]["data"]["alerts"]) == [2, 3]

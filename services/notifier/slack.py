"""Slack: Block Kit payloads to an incoming webhook (``ok`` is success, an error string with 4xx is final), or
through a bot token with chat.postMessage, threading story updates under the story's first message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from services.notifier.channel import Delivery, post, vote_urls_of
from services.notifier.outcome import DeliveryResult
from services.notifier.slack_api import SlackThreads, post_message
from services.notifier.slack_format import alert_message, digest_message, feed_health_message, story_update_message
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent
from shared.votes import VoteLinks, VoteUrls

# Slack would otherwise fetch links to preview them; for a vote link that fetch is a click nobody made.
NO_UNFURL = {"unfurl_links": False, "unfurl_media": False}


def slack_payload(
    delivery: Delivery, votes: Mapping[str, VoteUrls] | None = None, console_url: str | None = None
) -> dict[str, Any]:
    """The Block Kit payload of a delivery: one alert, one feed health event, or a digest; ``votes`` by alert id;
    ``console_url`` links each story to its timeline in the console."""
    return {**_message(delivery, votes or {}, console_url), **NO_UNFURL}


def _message(delivery: Delivery, votes: Mapping[str, VoteUrls], console_url: str | None) -> dict[str, Any]:
    if delivery.digest or len(delivery.messages) != 1:
        events = [m for m in delivery.messages if isinstance(m, FeedHealthEvent)]
        return digest_message(delivery.alerts, events, votes, console_url)
    message = delivery.messages[0]
    if isinstance(message, Alert):
        urls = votes.get(message.id)
        build = story_update_message if message.is_story_update else alert_message
        return build(message, urls, console_url)
    return feed_health_message(message)


def _story_alert(delivery: Delivery) -> Alert | None:
    """The alert of a single-alert delivery that belongs to a story (threads are per story)."""
    if delivery.digest or len(delivery.messages) != 1:
        return None
    message = delivery.messages[0]
    return message if isinstance(message, Alert) and message.story_id else None


class SlackChannel:
    """Posts to a Slack incoming-webhook URL, or with a bot token to the Web API (threads need the latter)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock | None = None,
        *,
        threads: SlackThreads | None = None,
        api_url: str = "https://slack.com/api",
        votes: VoteLinks | None = None,
    ) -> None:
        self.http = http
        self.clock = clock or SystemClock()
        self.threads, self.api_url, self.votes = threads, api_url, votes

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Post one message."""
        now = self.clock.now()
        console_url = self.votes.console_url if self.votes is not None else None  # set together (ConsoleSettings)
        payload = slack_payload(delivery, vote_urls_of(delivery, self.votes, now), console_url)
        if subscription.bot_token is not None:
            return await self._post_with_token(delivery, subscription, payload)
        body = json.dumps(payload, ensure_ascii=False)
        headers = {"content-type": "application/json; charset=utf-8"}
        return await post(self.http, subscription, now, content=body, headers=headers, error_detail=True)

    async def _post_with_token(
        self, delivery: Delivery, subscription: SubscriptionConfig, payload: dict[str, Any]
    ) -> DeliveryResult:
        alert = _story_alert(delivery)
        parent = None
        if alert is not None and alert.story_id and alert.is_story_update and self.threads is not None:
            parent = await self.threads.parent(subscription.name, alert.story_id)
            if parent is not None:
                payload["thread_ts"] = parent
        result, ts = await post_message(self.http, self.api_url, subscription, payload, self.clock.now())
        if result.ok and ts and alert is not None and alert.story_id and parent is None and self.threads is not None:
            # The first message of this story in the channel (or an update whose parent was never posted,
            # e.g. held in a digest): later updates reply under it.
            await self.threads.remember(subscription.name, alert.story_id, ts)
        return result

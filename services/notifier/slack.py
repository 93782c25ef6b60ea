"""Slack incoming webhooks: Block Kit payloads; ``ok`` is success, an error string with 4xx is final."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.notifier.channel import Delivery, post
from services.notifier.outcome import DeliveryResult
from services.notifier.slack_format import alert_message, digest_message, feed_health_message, story_update_message
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent


def slack_payload(delivery: Delivery) -> dict[str, Any]:
    """The Block Kit payload of a delivery: one alert, one feed health event, or a digest."""
    if delivery.digest or len(delivery.messages) != 1:
        events = [m for m in delivery.messages if isinstance(m, FeedHealthEvent)]
        return digest_message(delivery.alerts, events)
    message = delivery.messages[0]
    if isinstance(message, Alert):
        return story_update_message(message) if message.is_story_update else alert_message(message)
    return feed_health_message(message)


class SlackChannel:
    """Posts to a Slack incoming-webhook URL."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock | None = None) -> None:
        self.http = http
        self.clock = clock or SystemClock()

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Post one message."""
        body = json.dumps(slack_payload(delivery), ensure_ascii=False)
        headers = {"content-type": "application/json; charset=utf-8"}
        return await post(self.http, subscription, self.clock.now(), content=body, headers=headers, error_detail=True)

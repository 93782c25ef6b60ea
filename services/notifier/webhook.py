"""Generic webhooks: a versioned JSON body signed per the Standard Webhooks spec."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from services.notifier.channel import AlertsMessage, Delivery, post, vote_urls_of
from services.notifier.outcome import DeliveryResult
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.console_links import story_url
from shared.schemas import Alert
from shared.votes import VoteLinks, VoteUrls

WEBHOOK_SCHEMA_VERSION = 1


def webhook_body(
    delivery: Delivery, votes: Mapping[str, VoteUrls] | None = None, console_url: str | None = None
) -> str:
    """The JSON body, schema v1.

    One message: ``{"v": 1, "type": "alert"|"story.update"|"feed_health", "id": <delivery id>, "data": {...}}``;
    an alert carries ``story_id`` (and ``story_update`` events always do) so receivers can group a story's items.
    A digest: ``{"v": 1, "type": "digest", "id": ..., "data": {"alerts": [...], "feed_health": [...]}}``.
    An alert with an entry in ``votes`` (by alert id) carries ``vote_urls: {"relevant": ..., "not_relevant": ...}``,
    and an alert of a story ``mute_url`` (a signed link to the console's "mute this story" page);
    with ``console_url``, an alert of a story carries ``story_url``, the story's timeline page in the console.
    """
    votes = votes or {}
    doc: dict[str, Any] = {"v": WEBHOOK_SCHEMA_VERSION, "id": delivery.id}
    if delivery.digest or len(delivery.messages) != 1:
        doc["type"] = "digest"
        doc["data"] = {
            "alerts": [_data(alert, votes, console_url) for alert in delivery.alerts],
            "feed_health": [m.model_dump(mode="json") for m in delivery.messages if m.type == "feed_health"],
        }
    else:
        message = delivery.messages[0]
        doc["type"] = message.type
        if isinstance(message, Alert) and message.is_story_update:
            doc["type"] = "story.update"
            doc["story_id"] = message.story_id
        doc["data"] = _data(message, votes, console_url)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _data(message: AlertsMessage, votes: Mapping[str, VoteUrls], console_url: str | None) -> dict[str, Any]:
    data: dict[str, Any] = message.model_dump(mode="json")
    urls = votes.get(message.id) if isinstance(message, Alert) else None
    if urls is not None:
        # additive to schema v1: receivers that do not know them ignore them
        data["vote_urls"] = {vote: url for vote, url in urls.items() if vote != "mute"}
        if "mute" in urls:
            data["mute_url"] = urls["mute"]  # POST-confirmed on the console's page: opening it changes nothing
    story = story_url(console_url, message.story_id) if isinstance(message, Alert) else None
    if story is not None:
        data["story_url"] = story  # additive to schema v1, like vote_urls
    return data


def signed_headers(secret: str | None, delivery_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """webhook-id, webhook-timestamp and (with a secret) webhook-signature ``v1,<base64 HMAC-SHA256>``."""
    headers = {"webhook-id": delivery_id, "webhook-timestamp": str(int(timestamp.timestamp()))}
    if secret:
        headers["webhook-signature"] = Webhook(secret).sign(delivery_id, timestamp, body)
    return headers


class WebhookChannel:
    """POSTs signed JSON to a subscriber's endpoint."""

    # The webhook-id is the delivery id on every attempt, so the receiver de-duplicates a repeat: a request whose
    # answer was lost may be sent again (LOST_ANSWER in services/notifier/outcome.py: at least once).

    def __init__(self, http: httpx.AsyncClient, clock: Clock | None = None, votes: VoteLinks | None = None) -> None:
        self.http = http
        self.clock = clock or SystemClock()
        self.votes = votes

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """POST one delivery; the webhook-id is the delivery id, the same on every retry, so receivers can dedupe."""
        now = self.clock.now()
        console_url = self.votes.console_url if self.votes is not None else None  # set together (ConsoleSettings)
        body = webhook_body(delivery, vote_urls_of(delivery, self.votes, now), console_url)
        secret = subscription.secret.get_secret_value() if subscription.secret else None
        # Signed fresh on each attempt: the timestamp must be recent for receivers' replay windows.
        headers = signed_headers(secret, delivery.id, now, body)
        headers["content-type"] = "application/json"
        return await post(self.http, subscription, now, content=body, headers=headers, error_detail=True)

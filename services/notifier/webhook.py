"""Generic webhooks: a versioned JSON body signed per the Standard Webhooks spec."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from services.notifier.channel import retry_after_seconds, transport_failure
from services.notifier.outcome import DeliveryResult, result_for_status
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent

WEBHOOK_SCHEMA_VERSION = 1


def webhook_body(message: Alert | FeedHealthEvent) -> str:
    """The JSON body: ``{"v": 1, "type": "alert"|"feed_health", "data": {...}}``."""
    doc: dict[str, Any] = {"v": WEBHOOK_SCHEMA_VERSION, "type": message.type, "data": message.model_dump(mode="json")}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def signed_headers(secret: str | None, delivery_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """webhook-id, webhook-timestamp and (with a secret) webhook-signature ``v1,<base64 HMAC-SHA256>``."""
    headers = {"webhook-id": delivery_id, "webhook-timestamp": str(int(timestamp.timestamp()))}
    if secret:
        headers["webhook-signature"] = Webhook(secret).sign(delivery_id, timestamp, body)
    return headers


class WebhookChannel:
    """POSTs signed JSON to a subscriber's endpoint."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock | None = None) -> None:
        self.http = http
        self.clock = clock or SystemClock()

    async def send(
        self, message: Alert | FeedHealthEvent, subscription: SubscriptionConfig, delivery_id: str
    ) -> DeliveryResult:
        """POST one message; the webhook-id is the same on every retry so receivers can dedupe."""
        body = webhook_body(message)
        secret = subscription.secret.get_secret_value() if subscription.secret else None
        headers = signed_headers(secret, delivery_id, self.clock.now(), body)
        headers["content-type"] = "application/json"
        try:
            response = await self.http.post(subscription.url.get_secret_value(), content=body, headers=headers)
        except httpx.HTTPError as exc:
            return transport_failure(exc)
        return result_for_status(response.status_code, retry_after=retry_after_seconds(response))

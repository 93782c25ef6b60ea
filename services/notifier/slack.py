"""Slack incoming webhooks: Block Kit payloads; ``ok`` is success, an error string with 4xx is final."""

from __future__ import annotations

import httpx

from services.notifier.channel import retry_after_seconds, transport_failure
from services.notifier.outcome import DeliveryResult, result_for_status
from services.notifier.slack_format import alert_message, feed_health_message
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent


class SlackChannel:
    """Posts to a Slack incoming-webhook URL."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(
        self, message: Alert | FeedHealthEvent, subscription: SubscriptionConfig, delivery_id: str
    ) -> DeliveryResult:
        """Post one message."""
        payload = alert_message(message) if isinstance(message, Alert) else feed_health_message(message)
        try:
            response = await self.http.post(subscription.url.get_secret_value(), json=payload)
        except httpx.HTTPError as exc:
            return transport_failure(exc)
        # Slack's error strings (invalid_payload, channel_not_found, ...) are safe to report; the URL is not.
        detail = response.text.strip()[:100] if response.status_code != 200 else ""
        return result_for_status(response.status_code, detail, retry_after_seconds(response))

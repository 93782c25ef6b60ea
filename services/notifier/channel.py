"""What every channel has in common: send one message, report a DeliveryResult, never leak the URL."""

from __future__ import annotations

from typing import Protocol

import httpx

from services.notifier.outcome import DeliveryResult
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent


class Channel(Protocol):
    """Delivers one alerts-stream message to one subscription."""

    async def send(
        self, message: Alert | FeedHealthEvent, subscription: SubscriptionConfig, delivery_id: str
    ) -> DeliveryResult:
        """Attempt one delivery."""
        ...


def transport_failure(exc: httpx.HTTPError) -> DeliveryResult:
    """A request that got no HTTP answer; the reason names the error type only, since the message may hold the URL."""
    retryable = isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)
    return DeliveryResult.failure(f"no answer: {type(exc).__name__}", retryable=retryable)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After in seconds, if the answer carries a numeric one."""
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None

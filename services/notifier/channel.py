"""What every channel has in common: send one delivery, report a DeliveryResult, never leak the URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from services.notifier.outcome import DeliveryResult, parse_retry_after, result_for_status, result_for_transport_error
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent
from shared.votes import VoteLinks, VoteUrls

AlertsMessage = Alert | FeedHealthEvent


@dataclass(frozen=True)
class Delivery:
    """One unit of sending: a single message, or a digest of several, to one subscription."""

    id: str
    subscription: str
    messages: tuple[AlertsMessage, ...]
    digest: bool = False
    attempts: int = 0

    @property
    def alerts(self) -> list[Alert]:
        """The alerts in this delivery, most relevant first."""
        found = [m for m in self.messages if isinstance(m, Alert)]
        return sorted(found, key=lambda alert: alert.score, reverse=True)


def vote_urls_of(delivery: Delivery, links: VoteLinks | None, now: datetime) -> dict[str, VoteUrls]:
    """Each alert's two vote links (and its story's mute link) by alert id, expiring ttl after ``now`` (the
    attempt); empty without links."""
    if links is None:
        return {}
    return {alert.id: links.for_alert(alert.id, alert.topic, now, alert.story_id) for alert in delivery.alerts}


class Channel(Protocol):
    """Delivers one Delivery to one subscription."""

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Attempt one delivery."""
        ...


# Reads a platform's own retry hint from a refused response (Telegram's parameters.retry_after, Discord's JSON
# retry_after) when it sends no Retry-After header.
RetryHint = Callable[[httpx.Response], float | None]


async def post(
    http: httpx.AsyncClient,
    subscription: SubscriptionConfig,
    now: datetime,
    *,
    content: str,
    headers: dict[str, str],
    error_detail: bool,
    retry_hint: RetryHint | None = None,
) -> DeliveryResult:
    """POST ``content`` to the subscription's URL and classify the answer through the one status table."""
    url = subscription.url.get_secret_value()
    return await post_url(
        http, url, now, content=content, headers=headers, error_detail=error_detail, retry_hint=retry_hint
    )


async def post_url(
    http: httpx.AsyncClient,
    url: str,
    now: datetime,
    *,
    content: str,
    headers: dict[str, str],
    error_detail: bool,
    retry_hint: RetryHint | None = None,
) -> DeliveryResult:
    """POST ``content`` to ``url`` (a credential: never quoted) and classify the answer through the status table."""
    try:
        response = await http.post(url, content=content.encode(), headers=headers)
    except httpx.HTTPError as exc:
        # Never str(exc): httpx puts the URL (the Slack credential) in its messages.
        return result_for_transport_error(exc)
    except httpx.InvalidURL:
        # Not an HTTPError subclass, and its message quotes the URL: report the kind only.
        return DeliveryResult.failure("invalid url", retryable=False, category="invalid_url")
    # Error strings (Slack's invalid_payload, channel_not_found, ...) are safe to report; the URL is not.
    detail = _error_detail(response) if error_detail and not response.is_success else ""
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if retry_after is None and retry_hint is not None and not response.is_success:
        retry_after = retry_hint(response)
    return result_for_status(response.status_code, detail, retry_after)


def _error_detail(response: httpx.Response) -> str:
    text = response.text.strip()
    if text.startswith("{"):
        # Telegram's {"description": "Bad Request: chat not found"}, Discord's {"message": "Invalid Form Body"}.
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        found = doc.get("description") or doc.get("message") if isinstance(doc, dict) else None
        text = found.strip() if isinstance(found, str) else ""
    # Only a short, plain error string; anything else might echo the request back.
    if text and len(text) <= 100 and all(ch.isalnum() or ch in "_-.: " for ch in text):
        return text
    return ""

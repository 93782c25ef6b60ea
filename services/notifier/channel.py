"""What every channel has in common: send one delivery, report a DeliveryResult, never leak the URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from services.notifier.outcome import (
    DeliveryResult,
    SendProgress,
    parse_retry_after,
    result_for_status,
    result_for_transport_error,
)
from shared.capped_read import request_capped
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
    return {
        alert.id: links.for_alert(alert.id, alert.topic, now, alert.story_id, delivery.subscription)
        for alert in delivery.alerts
    }


class Channel(Protocol):
    """Delivers one Delivery to one subscription."""

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Attempt one delivery."""
        ...


# The progress of the attempt running in this task (set by the delivery worker around one send). A context variable
# rather than an argument so that every request a channel makes for the attempt reports to it, through one httpx
# request hook, without each channel passing it along.
_ATTEMPT: ContextVar[SendProgress | None] = ContextVar("tripwire_send_progress", default=None)


@contextmanager
def recording(progress: SendProgress) -> Iterator[SendProgress]:
    """Within this block, requests and mail of this task note how far they got in ``progress``."""
    token = _ATTEMPT.set(progress)
    try:
        yield progress
    finally:
        _ATTEMPT.reset(token)


def current_progress() -> SendProgress:
    """The running attempt's progress, or a fresh one nobody reads (a send outside the worker: test-alert)."""
    return _ATTEMPT.get() or SendProgress()


async def trace_request(request: httpx.Request) -> None:
    """httpx request hook: httpcore reports each phase of this request to the running attempt's progress."""
    progress = _ATTEMPT.get()
    if progress is not None:
        request.extensions["trace"] = progress.trace


def record_progress(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """``http`` with the hook that lets the worker tell a request that went out from one that never did."""
    hooks = http.event_hooks
    if trace_request not in hooks["request"]:
        http.event_hooks = {**hooks, "request": [*hooks["request"], trace_request]}
    return http


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
        # A receiver is a stranger too: its answer is read capped (an excerpt) under one total deadline.
        response = await request_capped(http, "POST", url, content=content.encode(), headers=headers)
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

"""Delivery outcomes, and the one table that maps an HTTP status to retry or give up.

Every channel reports a DeliveryResult; nothing else decides whether a failure is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from shared.outbound import OutboundRefused

# Statuses worth another try: the receiver is overloaded, restarting or asked us to slow down.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt ended; ``category`` is a short, secret-free label for metrics."""

    ok: bool
    retryable: bool
    reason: str
    status: int | None = None
    retry_after: float | None = None
    disable_subscription: bool = False
    category: str = "ok"

    @classmethod
    def success(cls, status: int) -> DeliveryResult:
        """The receiver accepted the message."""
        return cls(ok=True, retryable=False, reason="delivered", status=status, category="ok")

    @classmethod
    def failure(
        cls, reason: str, *, retryable: bool, status: int | None = None, category: str = "error"
    ) -> DeliveryResult:
        """A failure that is or is not worth retrying."""
        return cls(ok=False, retryable=retryable, reason=reason, status=status, category=category)


def result_for_status(status: int, detail: str = "", retry_after: float | None = None) -> DeliveryResult:
    """The outcome of an HTTP answer with ``status``: 2xx ok; 3xx, 410 and other 4xx final; 429 and 5xx retried."""
    suffix = f": {detail}" if detail else ""
    category = f"http_{status}"
    if 200 <= status < 300:
        return DeliveryResult.success(status)
    if 300 <= status < 400:
        # Following a redirect would send a signed payload somewhere the operator never configured.
        return DeliveryResult.failure(
            f"redirect not followed (HTTP {status}){suffix}", retryable=False, status=status, category=category
        )
    if status == 410:
        # The receiver says the endpoint is gone for good: stop sending anything to it.
        return DeliveryResult(
            ok=False,
            retryable=False,
            reason=f"endpoint gone (HTTP 410){suffix}",
            status=status,
            disable_subscription=True,
            category=category,
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        return DeliveryResult(
            ok=False,
            retryable=True,
            reason=f"HTTP {status}{suffix}",
            status=status,
            retry_after=retry_after,
            category=category,
        )
    return DeliveryResult.failure(
        f"rejected (HTTP {status}){suffix}", retryable=False, status=status, category=category
    )


def result_for_transport_error(exc: httpx.HTTPError) -> DeliveryResult:
    """A request that got no HTTP answer; the reason names the error type only, since the message may hold the URL.
    A refusal by the outbound guard is final and says which ``network.allow_private`` entry would allow it (its
    reason names the host and address, never the URL's path)."""
    if isinstance(exc, OutboundRefused):
        return DeliveryResult.failure(exc.reason, retryable=False, category="refused")
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryResult.failure(f"no answer: {type(exc).__name__}", retryable=True, category="timeout")
    retryable = isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError)
    category = "connection" if retryable else "request_error"
    return DeliveryResult.failure(f"no answer: {type(exc).__name__}", retryable=retryable, category=category)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


# Slack Web API errors (HTTP 200 with "ok": false) worth another try; every other error string is final
# (invalid_auth, channel_not_found, not_in_channel, ... need an operator, not a retry).
SLACK_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def result_for_slack_api(status: int, ok: bool, error: str, retry_after: float | None = None) -> DeliveryResult:
    """The outcome of a Slack Web API call: the HTTP status first, then Slack's own ``ok`` and ``error``."""
    if not 200 <= status < 300 or ok:
        return result_for_status(status, error, retry_after)
    safe = error if error.replace("_", "").isalnum() and len(error) <= 60 else "unknown error"
    retryable = safe in SLACK_RETRYABLE_ERRORS
    return DeliveryResult(
        ok=False, retryable=retryable, reason=f"Slack API error: {safe}", status=status,
        retry_after=retry_after if retryable else None, category=f"slack_{safe}"[:40],
    )  # fmt: skip


# SMTP replies (RFC 5321 §4.2.1): 4yz is a transient failure worth another try (421 service closing, 450/451/452
# mailbox busy, local error, storage), 5yz is permanent (550 no such user, 535 bad credentials, 554 refused).
def result_for_smtp_reply(code: int, detail: str = "") -> DeliveryResult:
    """The outcome of an SMTP server's reply ``code`` to our command (2yz/3yz never reach here as failures)."""
    suffix = f": {detail}" if detail else ""
    if 200 <= code < 400:
        return DeliveryResult.success(code)
    if code in (530, 534, 535):
        return DeliveryResult.failure(f"SMTP authentication failed ({code}){suffix}", retryable=False, status=code,
                                      category=f"smtp_{code}")  # fmt: skip
    retryable = 400 <= code < 500
    kind = "SMTP temporary failure" if retryable else "SMTP rejected"
    return DeliveryResult.failure(f"{kind} ({code}){suffix}", retryable=retryable, status=code, category=f"smtp_{code}")


# When the answer to a send is lost after the request went out (a timeout, a connection dropped), the receiver may
# have acted on it. Per channel type, what happens then (docs/delivery-guarantees.md explains each row):
# - "at-least-once": sent again as usual; the receiver de-duplicates, so a repeat costs nothing.
# - "at-most-once": not sent again, because a second copy cannot be taken back; dead-lettered as "possibly
#   delivered" instead, so nothing is lost silently ('tripwire dlq replay' sends it if it never arrived).
# The same row decides for a delivery whose lease ran out while its request was in flight (services/notifier/sender.py).
Guarantee = Literal["at-least-once", "at-most-once"]
LOST_ANSWER: Mapping[str, Guarantee] = {
    # The webhook-id header is the delivery id on every attempt (Standard Webhooks): receivers drop a repeat.
    "webhook": "at-least-once",
    # Incoming webhooks and chat.postMessage take no idempotency key: a resend is a second post in the channel.
    "slack": "at-most-once",
    # Workflows and incoming webhooks: no idempotency key either.
    "teams": "at-most-once",
    # Execute-webhook has no nonce: a resend is a second message.
    "discord": "at-most-once",
    # sendMessage has no idempotency key.
    "telegram": "at-most-once",
    # The Message-ID is the same on every attempt, but most mailboxes (Outlook, Exchange, plain IMAP) show a second
    # copy anyway; the window is short (after the message's final dot, before the server's reply).
    "email": "at-most-once",
}


@dataclass
class SendProgress:
    """How far one attempt got, noted while it runs, so that even a send cut short by the deadline tells whether the
    receiver may have acted on it: ``went_out`` once the request is out whole (an HTTP body written to its last
    byte; a mail from its DATA command on), ``accepted`` once the receiver said it took it (SMTP 250 after DATA)."""

    went_out: bool = False
    accepted: bool = False

    async def trace(self, event: str, _info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` request extension: ``http11.send_request_body.complete`` (or http2's) means the
        receiver has the whole request. Before it the receiver holds at most part of a body whose Content-Length
        it knows, so it cannot act on it: a failure then is safe to retry on every channel."""
        if event.endswith(".send_request_body.complete"):
            self.went_out = True


def possibly_delivered(kind: str, what: str) -> DeliveryResult | None:
    """The LOST_ANSWER row of channel ``kind`` when ``what`` happened after the request went out: None where a
    resend is safe (at least once: the usual retry applies), else the final "possibly delivered" failure."""
    if LOST_ANSWER.get(kind, "at-most-once") == "at-least-once":
        return None
    reason = (
        f"possibly delivered: {what}, and {kind} cannot de-duplicate a resend, so it is not sent again "
        "('tripwire dlq replay' sends it if it never arrived)"
    )
    return DeliveryResult.failure(reason, retryable=False, category="possibly_delivered")


def result_after_send(kind: str, result: DeliveryResult, progress: SendProgress) -> DeliveryResult:
    """The outcome of one attempt of channel ``kind`` given how far it got: accepted is delivered whatever came
    after (a lost SMTP QUIT); a failure without an answer (no status) after the request went out follows the
    channel's LOST_ANSWER row; everything else is ``result`` as the channel reported it."""
    if progress.accepted and not result.ok:
        return DeliveryResult.success(250)
    if result.ok or result.status is not None or not progress.went_out:
        return result
    return possibly_delivered(kind, f"no answer after the request went out ({result.reason})") or result

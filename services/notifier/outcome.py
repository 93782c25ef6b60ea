"""Delivery outcomes, and the one table that maps an HTTP status to retry or give up.

Every channel reports a DeliveryResult; nothing else decides whether a failure is retried.
"""

from __future__ import annotations

from dataclasses import dataclass

# Statuses worth another try: the receiver is overloaded, restarting or asked us to slow down.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt ended."""

    ok: bool
    retryable: bool
    reason: str
    status: int | None = None
    retry_after: float | None = None
    disable_subscription: bool = False

    @classmethod
    def success(cls, status: int) -> DeliveryResult:
        """The receiver accepted the message."""
        return cls(ok=True, retryable=False, reason="delivered", status=status)

    @classmethod
    def failure(cls, reason: str, *, retryable: bool, status: int | None = None) -> DeliveryResult:
        """A failure that is or is not worth retrying."""
        return cls(ok=False, retryable=retryable, reason=reason, status=status)


def result_for_status(status: int, detail: str = "", retry_after: float | None = None) -> DeliveryResult:
    """The outcome of an HTTP answer with ``status``: 2xx ok; 3xx, 410 and other 4xx final; 429 and 5xx retried."""
    suffix = f": {detail}" if detail else ""
    if 200 <= status < 300:
        return DeliveryResult.success(status)
    if 300 <= status < 400:
        # Following a redirect would send a signed payload somewhere the operator never configured.
        return DeliveryResult.failure(f"redirect not followed (HTTP {status}){suffix}", retryable=False, status=status)
    if status == 410:
        return DeliveryResult(
            ok=False,
            retryable=False,
            reason=f"endpoint gone (HTTP 410){suffix}",
            status=status,
            disable_subscription=True,
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        return DeliveryResult(
            ok=False, retryable=True, reason=f"HTTP {status}{suffix}", status=status, retry_after=retry_after
        )
    return DeliveryResult.failure(f"rejected (HTTP {status}){suffix}", retryable=False, status=status)

"""When to poll a feed next: its interval after a success, Retry-After or exponential back-off after a failure."""

from __future__ import annotations

import random
from datetime import datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None if absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def failure_delay(
    failures: int, interval: float, cap: float, rng: random.Random, retry_after: float | None = None
) -> float:
    """Seconds until the next try after ``failures`` consecutive failures.

    A server's Retry-After is honoured (never polled sooner), else the interval doubles per failure with up to 25%
    jitter so feeds that failed together do not retry together; both are capped so a feed is retried at least every
    ``cap`` seconds.
    """
    if retry_after is not None:
        return min(cap, max(retry_after, interval))
    exponent = min(max(failures - 1, 0), 30)
    return min(cap, interval * float(2**exponent) * rng.uniform(1.0, 1.25))

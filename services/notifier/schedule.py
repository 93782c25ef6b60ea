"""When to try again, when quiet hours end, and when a digest is due: pure functions of the time given."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.config.subscriptions import QuietHours, SubscriptionConfig


@dataclass(frozen=True)
class RetryPolicy:
    """A bounded schedule: ``delays[n]`` is the wait before retry n+1; jitter spreads retries of many deliveries."""

    delays: Sequence[float]
    jitter: float
    max_retry_after: float

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per delay."""
        return 1 + len(self.delays)

    def next_delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds before the next attempt after ``attempts`` failed ones, or None when the schedule is exhausted."""
        if attempts >= self.max_attempts:
            return None
        base = self.delays[attempts - 1]
        delay = base * (1 + rng.uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            # The receiver knows best when it can take more; honour it (capped), never retry sooner.
            delay = max(delay, min(retry_after, self.max_retry_after))
        return max(0.0, delay)


def in_quiet_hours(quiet: QuietHours | None, now: datetime) -> bool:
    """True when ``now`` falls in the subscription's local quiet window."""
    if quiet is None:
        return False
    local = now.astimezone(ZoneInfo(quiet.timezone)).time().replace(tzinfo=None)
    start, end = quiet.start_time, quiet.end_time
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def quiet_hours_end(quiet: QuietHours, now: datetime) -> datetime:
    """The next end of the quiet window after ``now`` (in UTC-aware time)."""
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    for days in range(2):
        day = local.date() + timedelta(days=days)
        end = datetime.combine(day, quiet.end_time, tzinfo=zone)
        if end > local:
            return end.astimezone(now.tzinfo)
    return (local + timedelta(days=1)).astimezone(now.tzinfo)


def hold_until(subscription: SubscriptionConfig, now: datetime) -> datetime | None:
    """When a message for ``subscription`` arriving at ``now`` may be sent, or None to send it now."""
    quiet = in_quiet_hours(subscription.quiet_hours, now)
    if subscription.mode == "digest":
        due = now + timedelta(seconds=subscription.digest_interval)
        if subscription.quiet_hours is not None and (quiet or in_quiet_hours(subscription.quiet_hours, due)):
            due = max(due, quiet_hours_end(subscription.quiet_hours, now))
        return due
    if quiet and subscription.quiet_hours is not None:
        return quiet_hours_end(subscription.quiet_hours, now)
    return None


def hold_story_update(subscription: SubscriptionConfig, now: datetime) -> datetime | None:
    """When a story update (another outlet on a story already sent) may be sent; None to send it now.

    ``updates: digest`` holds updates for one digest at most every ``updates_interval`` (the digest's due time is
    set by its first held message); ``updates: each`` treats an update like any alert.
    """
    regular = hold_until(subscription, now)
    if subscription.updates != "digest":
        return regular
    due = now + timedelta(seconds=subscription.updates_interval)
    return max(due, regular) if regular is not None else due

"""Feed health transitions: failing after N consecutive failures, stale after a quiet period, recovered.

Each transition is reported once: the state remembers the current health, so a feed failing for a week raises
one ``failing`` event and one ``recovered`` event, not one per poll.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from services.poller.state import FeedState
from shared.schemas import FeedHealthEvent, FeedRef


def after_failure(state: FeedState, ref: FeedRef, now: datetime, threshold: int) -> FeedHealthEvent | None:
    """A ``failing`` event if this failure crossed the threshold (or the feed is gone), else None."""
    if state.health == "failing" or (state.consecutive_failures < threshold and not state.gone):
        return None
    state.health = "failing"
    message = f"{state.consecutive_failures} consecutive failed polls; last error: {state.last_error}"
    return _event(ref, "failing", message, state, now)


def after_success(
    state: FeedState, ref: FeedRef, now: datetime, stale_after: float, failures_before: int, published: int
) -> FeedHealthEvent | None:
    """A ``recovered`` or ``stale`` event if this successful poll changed the feed's health, else None."""
    if state.health == "failing":
        state.health = "ok"
        return _event(ref, "recovered", f"polled successfully after {failures_before} failed polls", state, now)
    if state.health == "stale" and published:
        state.health = "ok"
        return _event(ref, "recovered", f"{published} new items after a quiet period", state, now)
    quiet_since = state.last_new_item
    if state.health == "ok" and stale_after > 0 and quiet_since and now - quiet_since >= timedelta(seconds=stale_after):
        state.health = "stale"
        message = f"no new item since {quiet_since.isoformat()} (stale after {stale_after:g} s)"
        return _event(ref, "stale", message, state, now)
    return None


def _event(ref: FeedRef, status: str, message: str, state: FeedState, now: datetime) -> FeedHealthEvent:
    event_id = hashlib.sha256(f"{ref.url}|{status}|{now.isoformat()}".encode()).hexdigest()[:32]
    return FeedHealthEvent.model_validate(
        {"id": event_id, "feed": ref, "status": status, "message": message,
         "consecutive_failures": state.consecutive_failures, "created_at": now}
    )  # fmt: skip

"""Feed health: the transitions that alert, and the status a person reads.

Alerts: failing after N consecutive failures (poller.failure_threshold), stale after a quiet period, recovered.
Each transition is reported once: the state remembers the current health, so a feed failing for a week raises
one ``failing`` event and one ``recovered`` event, not one per poll.

The status shown (console, ``tripwire feeds``) tells the truth at once instead: a feed whose last poll failed IS
failing, from the first failure, with the count beside it (the threshold only keeps one failed poll from paging
anyone; back-off spaces failures out, so five of them can take more than an hour), and a feed with no new item for
its stale_after IS stale, whether or not a successful poll has come by since to notice.
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


def current_status(state: FeedState, *, enabled: bool, now: datetime | None, stale_after: float) -> str:
    """One word for a person: disabled, gone, failing (the last poll failed), waiting (items held back because the
    items stream is full of unread entries), stale (no new item for ``stale_after`` seconds as of ``now``), ok, or
    new (never polled successfully). ``now`` None judges staleness by the poller's last look only."""
    if not enabled:
        return "disabled"
    if state.gone:
        return "gone"
    if state.consecutive_failures or state.health == "failing":
        return "failing"
    if state.items_waiting:
        return f"waiting ({state.items_waiting} items: stream full)"
    quiet = state.last_new_item
    if state.health == "stale" or (
        now is not None and stale_after > 0 and quiet is not None and now - quiet >= timedelta(seconds=stale_after)
    ):
        return "stale"
    return "ok" if state.last_success else "new"


def _event(ref: FeedRef, status: str, message: str, state: FeedState, now: datetime) -> FeedHealthEvent:
    event_id = hashlib.sha256(f"{ref.url}|{status}|{now.isoformat()}".encode()).hexdigest()[:32]
    return FeedHealthEvent.model_validate(
        {"id": event_id, "feed": ref, "status": status, "message": message,
         "consecutive_failures": state.consecutive_failures, "created_at": now}
    )  # fmt: skip

"""Adaptive polling: each feed is polled as often as it publishes, within ``min_interval`` and ``max_interval``.

Like Miniflux's entry-frequency scheduler, the interval is a week's worth of time divided by how many items the feed
published in it; unlike it, the estimate is made from the publication times the feed itself carries (so the first
poll already knows a wire from a blog) plus the arrival times of undated items, and the poll rate is a multiple of
the publishing rate, so a busy wire waits a fraction of its typical gap between items, not a whole one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.config import FeedConfig, PollerSettings
from shared.schemas import Item

WINDOW_SECONDS = 7 * 86400.0
"""Publications older than this say nothing about today's rate."""
MAX_TIMES = 100
"""Most publication times kept per feed: a wire's last 100 items span hours, plenty for an estimate."""
MIN_SPAN_SECONDS = 600.0
"""A rate is never measured over less than this: one item a second ago is not a rate of one per second."""
POLLS_PER_GAP = 6.0
"""Polls per typical gap between items: a wire publishing every 5 minutes is polled every 50 s (p95 wait < 60 s)."""


def remember_publications(
    times: Sequence[float], items: Iterable[Item], new_undated: int, now: float, *, first_poll: bool
) -> list[float]:
    """``times`` (epoch seconds, sorted) plus this poll's dated items and undated new arrivals, trimmed to the window.

    A dated item counts at its publication time (never later than now: a feed's clock can run ahead), once however
    many polls see it. An undated item counts at the time a poll first saw it, except on a feed's first poll,
    which cannot tell when its backlog was published.
    """
    known = set(times)
    merged = list(times)
    for item in items:
        if item.published_estimated or item.published is None:
            continue
        when = min(item.published.timestamp(), now)
        if when not in known:
            known.add(when)
            merged.append(when)
    if not first_poll:
        # Distinct values so a later dedupe never folds several arrivals of one poll into one.
        merged.extend(now - i * 1e-3 for i in range(new_undated))
    recent = sorted(t for t in merged if now - t <= WINDOW_SECONDS)
    return recent[-MAX_TIMES:]


def publishing_rate(times: Sequence[float], now: float) -> float:
    """Items per second over the span from the oldest remembered publication to now (0.0 without any)."""
    if not times:
        return 0.0
    span = max(now - min(times), MIN_SPAN_SECONDS)
    return len(times) / span


def adaptive_interval(times: Sequence[float], now: float, min_interval: float, max_interval: float) -> float:
    """Seconds between polls for a feed with these publication times: gap / POLLS_PER_GAP, within the bounds."""
    rate = publishing_rate(times, now)
    if rate <= 0:
        return max_interval
    return min(max_interval, max(min_interval, 1.0 / (rate * POLLS_PER_GAP)))


def poll_interval(
    feed: FeedConfig, settings: PollerSettings, times: Sequence[float], now: float, *, push_live: bool
) -> float:
    """The interval until a feed's next poll after a successful one.

    Push live: the long safety-net interval (a hub that fails silently is caught within it). Else the feed's own
    configured interval, else the adaptive one (or the default interval with ``adaptive: false``). Failures do not
    come here: Retry-After and back-off decide those waits (services/poller/backoff.py).
    """
    if push_live:
        return settings.websub.poll_interval
    if feed.interval:
        return feed.interval
    if not settings.adaptive:
        return settings.default_interval
    return adaptive_interval(times, now, settings.min_interval, settings.max_interval)

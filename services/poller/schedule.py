"""The poll schedule: one APScheduler interval job per feed, kept in step with the config on reload."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from shared.clock import Clock
from shared.config import FeedConfig


@dataclass
class ScheduleChanges:
    """What a reload changed."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


class FeedSchedule:
    """Runs ``poll(url)`` for every feed on its interval: one run at a time per feed, missed runs coalesced."""

    def __init__(
        self, poll: Callable[[str], Awaitable[object]], default_interval: float, jitter: float, clock: Clock,
        rng: random.Random,
    ) -> None:  # fmt: skip
        self.poll, self.default_interval, self.jitter = poll, default_interval, jitter
        self.clock, self.rng = clock, rng
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._feeds: dict[str, FeedConfig] = {}
        # Intervals chosen after polls (adaptive, push live); a reload that changes a feed starts it afresh.
        self._chosen: dict[str, float] = {}

    def interval(self, feed: FeedConfig) -> float:
        """The feed's poll interval in seconds: the one chosen after its last poll, else the configured one."""
        return self._chosen.get(feed.url) or feed.interval or self.default_interval

    def set_interval(self, url: str, seconds: float) -> bool:
        """Poll ``url`` every ``seconds`` from now on (next run one interval from now); False if unchanged or unknown.

        Changes under 10% are ignored so a feed's estimate wobbling by a few seconds does not reschedule it each poll.
        """
        feed = self._feeds.get(url)
        if feed is None:
            return False
        current = self.interval(feed)
        if abs(seconds - current) < 0.1 * current:
            return False
        self._chosen[url] = seconds
        if self.scheduler.get_job(url) is not None:
            self.scheduler.reschedule_job(url, trigger="interval", seconds=seconds, jitter=self._jitter(seconds))
        return True

    def start(self, feeds: Sequence[FeedConfig]) -> ScheduleChanges:
        """Schedule ``feeds`` and start the scheduler (on the running event loop)."""
        changes = self.sync(feeds)
        self.scheduler.start()
        return changes

    def shutdown(self) -> None:
        """Stop scheduling; polls already running finish on their own."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def jobs(self) -> dict[str, float]:
        """Scheduled feed URLs and their intervals."""
        return {url: self.interval(feed) for url, feed in self._feeds.items()}

    def sync(self, feeds: Sequence[FeedConfig]) -> ScheduleChanges:
        """Add, remove and reschedule jobs so they match ``feeds`` (the enabled ones)."""
        wanted = {feed.url: feed for feed in feeds if feed.enabled}
        changes = ScheduleChanges()
        for url in list(self._feeds):
            if url not in wanted:
                self.scheduler.remove_job(url)
                del self._feeds[url]
                self._chosen.pop(url, None)
                changes.removed.append(url)
        for url, feed in wanted.items():
            old = self._feeds.get(url)
            if old is None:
                self._add(feed)
                changes.added.append(url)
            elif old != feed:
                self.scheduler.remove_job(url)
                self._chosen.pop(url, None)
                self._add(feed)
                changes.changed.append(url)
        return changes

    def _add(self, feed: FeedConfig) -> None:
        interval = self.interval(feed)
        jitter = self._jitter(interval)
        # Spread the first runs too, so a restart with hundreds of feeds does not fire them all in one second.
        first = self.clock.now() + timedelta(seconds=self.rng.uniform(0, min(self.jitter, interval)))
        self.scheduler.add_job(
            self.poll, "interval", args=[feed.url], id=feed.url, seconds=interval, jitter=jitter,
            max_instances=1, coalesce=True, misfire_grace_time=None, next_run_time=first,
        )  # fmt: skip
        self._feeds[feed.url] = feed

    def _jitter(self, interval: float) -> float | None:
        # A tenth of the interval at most: a busy wire polled every minute must not drift by the default 30 s.
        return min(self.jitter, interval / 10) or None

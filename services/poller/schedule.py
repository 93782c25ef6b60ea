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

    def interval(self, feed: FeedConfig) -> float:
        """The feed's poll interval in seconds."""
        return feed.interval or self.default_interval

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
                changes.removed.append(url)
        for url, feed in wanted.items():
            old = self._feeds.get(url)
            if old is None:
                self._add(feed)
                changes.added.append(url)
            elif old != feed:
                self.scheduler.remove_job(url)
                self._add(feed)
                changes.changed.append(url)
        return changes

    def _add(self, feed: FeedConfig) -> None:
        interval = self.interval(feed)
        jitter = min(self.jitter, interval / 10)
        # Spread the first runs too, so a restart with hundreds of feeds does not fire them all in one second.
        first = self.clock.now() + timedelta(seconds=self.rng.uniform(0, min(self.jitter, interval)))
        self.scheduler.add_job(
            self.poll, "interval", args=[feed.url], id=feed.url, seconds=interval, jitter=jitter or None,
            max_instances=1, coalesce=True, misfire_grace_time=None, next_run_time=first,
        )  # fmt: skip
        self._feeds[feed.url] = feed

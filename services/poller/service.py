"""The poller service: poll every feed on its interval and publish new items."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from services.poller.fetch import FeedFetchError, fetch_feed
from services.poller.parse import FeedParseError, parse_feed
from services.poller.publish import ItemPublisher
from shared.clock import Clock, SystemClock
from shared.config import FeedConfig, TripwireConfig
from shared.health import HealthState
from shared.logging import get_logger
from shared.streams import StreamNames

log = get_logger(__name__)


@dataclass
class PollResult:
    """What one poll of one feed did."""

    url: str
    found: int = 0
    published: int = 0
    error: str | None = None


class Poller:
    """Polls feeds and publishes their new items."""

    def __init__(
        self,
        config: TripwireConfig,
        redis: Redis,
        http: httpx.AsyncClient,
        *,
        clock: Clock | None = None,
        health: HealthState | None = None,
    ) -> None:
        self.config, self.redis, self.http = config, redis, http
        self.clock = clock or SystemClock()
        self.health = health or HealthState()
        self.names = StreamNames(config.redis.stream_prefix)
        self.publisher = ItemPublisher(redis, self.names, seen_ttl=config.poller.seen_ttl, maxlen=config.redis.maxlen)

    async def poll_feed(self, feed: FeedConfig) -> PollResult:
        """Fetch, parse and publish one feed; errors are reported in the result, never raised."""
        result = PollResult(feed.url)
        try:
            fetched = await fetch_feed(self.http, feed.url, max_bytes=self.config.poller.max_body_bytes)
            parsed = parse_feed(fetched, self.clock.now(), feed.name)
        except (FeedFetchError, FeedParseError) as exc:
            result.error = str(exc)
            log.warning("feed_failed", url=feed.url, error=result.error)
            return result
        result.found = len(parsed.items)
        for item in parsed.items:
            if await self.publisher.publish_new(item):
                result.published += 1
        self.health.beat()
        log.info("feed_polled", url=feed.url, found=result.found, published=result.published)
        return result

    async def poll_all(self) -> list[PollResult]:
        """Poll every enabled feed once, concurrently."""
        feeds = [feed for feed in self.config.feeds if feed.enabled]
        return list(await asyncio.gather(*(self.poll_feed(feed) for feed in feeds)))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll each feed now and then on its interval until ``stop`` is set."""
        scheduler = AsyncIOScheduler(timezone="UTC")
        for feed in self.config.feeds:
            if not feed.enabled:
                continue
            interval = feed.interval or self.config.poller.default_interval
            scheduler.add_job(
                self.poll_feed, "interval", args=[feed], seconds=interval, id=feed.url,
                max_instances=1, coalesce=True, jitter=min(30.0, interval / 10),
                next_run_time=self.clock.now(),
            )  # fmt: skip
        scheduler.start()
        try:
            while not stop.is_set():
                self.health.beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=5)
        finally:
            scheduler.shutdown(wait=False)

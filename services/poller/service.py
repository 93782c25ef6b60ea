"""The poller service: poll every feed on its interval and publish new items, politely and exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.poller import feed_health
from services.poller.backoff import failure_delay
from services.poller.fetch import FeedFetchError, FetchedFeed, Fetcher, NotModified, Validators
from services.poller.lock import FeedLocks
from services.poller.parse import FeedParseError, parse_feed
from services.poller.publish import ItemPublisher
from services.poller.schedule import FeedSchedule
from services.poller.state import FeedState, FeedStateStore
from shared.clock import Clock, SystemClock
from shared.config import FeedConfig, TripwireConfig
from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import FEED_ERRORS, FEED_POLL_SECONDS, ITEMS_FETCHED, ITEMS_PUBLISHED
from shared.schemas import FeedHealthEvent, FeedRef
from shared.streams import StreamNames, publish

log = get_logger(__name__)
FeedLoader = Callable[[], Sequence[FeedConfig]]
"""Re-reads the feeds from the config (on SIGHUP); raises with a clear message if the config is bad."""


@dataclass
class PollResult:
    """What one poll of one feed did; ``skipped`` says why a feed was not fetched."""

    url: str
    found: int = 0
    published: int = 0
    not_modified: bool = False
    error: str | None = None
    skipped: str | None = None


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
        rng: random.Random | None = None,
    ) -> None:
        self.config, self.settings, self.redis = config, config.poller, redis
        self.clock = clock or SystemClock()
        self.health = health or HealthState()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.names = StreamNames.of(config.redis)
        self.fetcher = Fetcher(http, self.settings)
        self.states = FeedStateStore(redis, self.names)
        # The lock outlives the longest fetch plus parsing and publishing, so it rarely expires mid-poll; if it does,
        # the publish script still publishes each item once.
        self.locks = FeedLocks(redis, self.names, ttl_seconds=self.settings.timeout + 60)
        self.publisher = ItemPublisher(
            redis, self.names, seen_ttl=self.settings.seen_ttl, maxlen=config.redis.maxlen, clock=self.clock
        )
        self.feeds: dict[str, FeedConfig] = {feed.url: feed for feed in config.feeds if feed.enabled}
        # Bounds whole polls, not only fetches: a poll waiting for a fetch slot would otherwise hold a feed lock and a
        # Redis connection, and a thousand of them exhaust the connection pool.
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._in_flight: set[asyncio.Task[PollResult]] = set()
        self.schedule = FeedSchedule(
            self._poll_scheduled, self.settings.default_interval, self.settings.jitter, self.clock, self.rng
        )

    async def poll_feed(self, feed: FeedConfig, *, respect_schedule: bool = False) -> PollResult:
        """Fetch, parse and publish one feed; errors are reported in the result, never raised."""
        async with self._slots:
            return await self._poll_feed(feed, respect_schedule)

    async def _poll_feed(self, feed: FeedConfig, respect_schedule: bool) -> PollResult:
        result = PollResult(feed.url)
        started = self.clock.monotonic()
        try:
            async with self.locks.hold(feed.url) as held:
                if not held:
                    result.skipped = "another replica is polling it"
                    return result
                state = await self.states.load(feed.url)
                result.skipped = self._skip_reason(feed, state, respect_schedule)
                if result.skipped is None:
                    await self._poll_locked(feed, state, result)
            self.health.set_redis_ok(True)
        except RedisError as exc:
            # Validators are saved only after the items went out, so the next poll refetches the whole feed and the
            # seen markers drop what was already published: nothing is lost, nothing is published twice.
            # HealthState logs the change once (down, then up again), not once per failed feed.
            self.health.set_redis_ok(False, f"{type(exc).__name__}: {exc}")
            result.error = f"Redis unavailable: {type(exc).__name__}"
        finally:
            FEED_POLL_SECONDS.observe(self.clock.monotonic() - started)
        return result

    async def poll_all(self) -> list[PollResult]:
        """Poll every enabled feed once, concurrently (the fetcher bounds how many at a time)."""
        return list(await asyncio.gather(*(self.poll_feed(feed) for feed in self.feeds.values())))

    async def run(self, stop: asyncio.Event, *, reload: FeedLoader | None = None) -> None:
        """Poll each feed on its interval until ``stop`` is set; SIGHUP re-reads the feeds through ``reload``."""
        self.schedule.start(list(self.feeds.values()))
        reload_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        if reload is not None:
            loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
        try:
            while not stop.is_set():
                self.health.beat()
                if reload is not None and reload_requested.is_set():
                    reload_requested.clear()
                    self.reload(reload)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, reload_requested), timeout=5)
        finally:
            if reload is not None:
                loop.remove_signal_handler(signal.SIGHUP)
            self.schedule.shutdown()
            # Graceful: polls already running finish (each within its fetch deadline) so no lock or item is left
            # half-done; their validators and state are saved as usual.
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def reload(self, load: FeedLoader) -> None:
        """Apply the feeds ``load`` returns; a bad config is logged and the running feeds are kept."""
        try:
            feeds = list(load())
        except Exception as exc:
            log.error("feeds_reload_failed", error=str(exc))
            return
        changes = self.schedule.sync(feeds)
        self.feeds = {feed.url: feed for feed in feeds if feed.enabled}
        log.info("feeds_reloaded", added=changes.added, removed=changes.removed, changed=changes.changed)

    async def _poll_scheduled(self, url: str) -> None:
        feed = self.feeds.get(url)
        if feed is None:
            return
        task = asyncio.ensure_future(self.poll_feed(feed, respect_schedule=True))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        await asyncio.shield(task)

    def _skip_reason(self, feed: FeedConfig, state: FeedState, respect_schedule: bool) -> str | None:
        if state.gone:
            return "gone (HTTP 410): remove it from the config or fix its URL"
        if not respect_schedule:
            return None
        now = self.clock.now()
        if state.consecutive_failures and state.next_poll is not None and state.next_poll > now:
            return f"backing off until {state.next_poll.isoformat()}"
        # Every replica schedules every feed; whichever comes first polls it, the others find it polled less than
        # half an interval ago and leave it. A replica's own next run is a whole interval later (jitter only adds).
        half_interval = timedelta(seconds=(feed.interval or self.settings.default_interval) / 2)
        if state.last_success is not None and now - state.last_success < half_interval:
            return "polled recently (by another replica)"
        return None

    async def _poll_locked(self, feed: FeedConfig, state: FeedState, result: PollResult) -> None:
        now = self.clock.now()
        ref = FeedRef(url=feed.url, title=feed.name)
        try:
            outcome = await self.fetcher.fetch(state.fetch_url, Validators(state.etag, state.last_modified), now)
            if isinstance(outcome, FetchedFeed):
                parsed = await asyncio.to_thread(parse_feed, outcome.content, outcome.headers, feed.url, now, feed.name)
        except (FeedFetchError, FeedParseError) as exc:
            await self._record_failure(feed, state, ref, exc, now, result)
            return
        if isinstance(outcome, NotModified):
            result.not_modified = True
        else:
            result.found = len(parsed.items)
            ITEMS_FETCHED.labels(feed=feed.url).inc(result.found)
            if parsed.malformed:
                FEED_ERRORS.labels(feed=feed.url, reason="malformed").inc()
                log.warning("feed_malformed", url=feed.url, error=parsed.malformed, items=result.found)
            result.published = await self.publisher.publish_many(parsed.items)
            ITEMS_PUBLISHED.labels(feed=feed.url).inc(result.published)
            # Only now, with every item out, may the validators move: a 304 must never hide an unpublished item.
            state.etag, state.last_modified = outcome.validators.etag, outcome.validators.last_modified
        self._remember_move(state, outcome.permanent_url)
        await self._record_success(feed, state, ref, now, result.published)
        log.info("feed_polled", url=feed.url, found=result.found, published=result.published,
                 not_modified=result.not_modified)  # fmt: skip

    def _remember_move(self, state: FeedState, permanent_url: str | None) -> None:
        if permanent_url and permanent_url != state.fetch_url:
            log.warning("feed_moved", url=state.url, moved_to=permanent_url)
            state.moved_to = permanent_url

    async def _record_success(
        self, feed: FeedConfig, state: FeedState, ref: FeedRef, now: datetime, published: int
    ) -> None:
        failures_before = state.consecutive_failures
        state.last_success, state.consecutive_failures = now, 0
        state.items_published += published
        if published or state.last_new_item is None:
            state.last_new_item = now
        state.next_poll = now + timedelta(seconds=feed.interval or self.settings.default_interval)
        stale_after = feed.stale_after if feed.stale_after is not None else self.settings.stale_after
        event = feed_health.after_success(state, ref, now, stale_after, failures_before, published)
        await self._save(state, event)

    async def _record_failure(
        self, feed: FeedConfig, state: FeedState, ref: FeedRef, exc: FeedFetchError | FeedParseError, now: datetime,
        result: PollResult,
    ) -> None:  # fmt: skip
        result.error = str(exc)
        reason = exc.reason if isinstance(exc, FeedFetchError) else "not_a_feed"
        retry_after = exc.retry_after if isinstance(exc, FeedFetchError) else None
        FEED_ERRORS.labels(feed=feed.url, reason=reason).inc()
        state.consecutive_failures += 1
        state.last_error, state.last_error_at = result.error, now
        state.gone = state.gone or (isinstance(exc, FeedFetchError) and exc.gone)
        interval = feed.interval or self.settings.default_interval
        delay = failure_delay(state.consecutive_failures, interval, self.settings.max_backoff, self.rng, retry_after)
        state.next_poll = now + timedelta(seconds=delay)
        log.warning("feed_failed", url=feed.url, error=result.error, reason=reason,
                    failures=state.consecutive_failures, retry_in=round(delay))  # fmt: skip
        event = feed_health.after_failure(state, ref, now, self.settings.failure_threshold)
        await self._save(state, event)

    async def _save(self, state: FeedState, event: FeedHealthEvent | None) -> None:
        # The event goes out before the state that records it: a crash in between repeats the event, never loses it.
        if event is not None:
            await publish(self.redis, self.names.alerts, event.to_json(), self.config.redis.maxlen)
            log.warning("feed_health", url=state.url, status=event.status, message=event.message)
        await self.states.save(state)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

"""The poller service: poll every feed on its interval and publish new items, politely and exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.poller import feed_health
from services.poller.adaptive import poll_interval, remember_publications
from services.poller.backoff import failure_delay
from services.poller.fetch import FeedFetchError, FetchedFeed, Fetcher, NotModified, Validators
from services.poller.fulltext import ArticleEnricher
from services.poller.lock import FeedLocks
from services.poller.parse import FeedParseError, ParsedFeed, parse_feed
from services.poller.publish import ItemPublisher
from services.poller.schedule import FeedSchedule
from services.poller.state import FeedState, FeedStateStore
from services.poller.websub import Subscription, SubscriptionStore, discover
from services.poller.websub_client import WebSubSubscriber
from services.poller.websub_server import create_callback_app, serve_callbacks
from shared.clock import Clock, SystemClock
from shared.config import FeedConfig, TripwireConfig
from shared.config_reload import ReloadWatch, off_sighup, on_sighup
from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import FEED_ERRORS, FEED_POLL_SECONDS, ITEMS_FETCHED, ITEMS_PUBLISHED
from shared.schemas import FeedHealthEvent, FeedRef, Item
from shared.streams import StreamNames, publish

log = get_logger(__name__)
T = TypeVar("T")
PARSE_THREADS = 2
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
    waiting: int = 0  # items left for the next poll: the items stream was full of unread entries


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
        # Parsing and article extraction get threads of their own: work that hangs in asyncio's default executor
        # (a blocking DNS lookup, a library's own to_thread) can then never stall a poll (issue 26, item 10).
        self.workers = ThreadPoolExecutor(max_workers=PARSE_THREADS, thread_name_prefix="tripwire-parse")
        self.articles = ArticleEnricher(self.fetcher, redis, self.names, self.settings, self.clock, self.workers)
        # The lock outlives the longest poll (the feed's deadline, then one more for all its articles) plus parsing
        # and publishing, so it rarely expires mid-poll; if it does, the publish script still publishes each item once.
        self.locks = FeedLocks(redis, self.names, ttl_seconds=2 * self.settings.timeout + 60)
        self.publisher = ItemPublisher(
            redis,
            self.names,
            seen_ttl=self.settings.seen_ttl,
            maxlen=config.redis.maxlen,
            health=self.health,
            clock=self.clock,
        )
        self.feeds: dict[str, FeedConfig] = {feed.url: feed for feed in config.feeds if feed.enabled}
        # Bounds whole polls, not only fetches: a poll waiting for a fetch slot would otherwise hold a feed lock and a
        # Redis connection, and a thousand of them exhaust the connection pool.
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._in_flight: set[asyncio.Task[PollResult]] = set()
        self.schedule = FeedSchedule(
            self._poll_scheduled, self.settings.default_interval, self.settings.jitter, self.clock, self.rng
        )
        self.websub: WebSubSubscriber | None = None
        self._tick: asyncio.Future[None] | None = None
        if self.settings.websub.enabled:
            store = SubscriptionStore(redis, self.names)
            self.websub = WebSubSubscriber(self.settings.websub, redis, store, http, self.clock, self.rng)

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
                if state.poll_interval:
                    # Replicas follow the interval whichever of them polled last chose.
                    self.schedule.set_interval(feed.url, state.poll_interval)
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
        # SIGHUP, or the console's request after it rewrote the file (shared/config_reload.py): one Redis GET a tick.
        # Only its requests are used here: the feeds come through ``reload``.
        watch = ReloadWatch(self.redis, self.names, lambda: self.config, "poller")
        if reload is not None:
            on_sighup(reload_requested.set)
            await watch.requested()  # notes the current generation
        callbacks = self.start_callback_server(stop)
        if self.websub is not None:
            # Feeds removed while the poller was down are unsubscribed by the first tick.
            with contextlib.suppress(RedisError):
                await self.websub.reconcile(list(self.feeds))
        try:
            while not stop.is_set():
                self.health.beat()
                if reload is not None and (reload_requested.is_set() or await watch.requested()):
                    reload_requested.clear()
                    self.reload(reload)
                self._start_websub_tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, reload_requested), timeout=5)
        finally:
            if reload is not None:
                off_sighup(reload_requested.set)
            self.schedule.shutdown()
            # Graceful: polls already running finish (each within its fetch deadline) so no lock or item is left
            # half-done; their validators and state are saved as usual.
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            if callbacks is not None:
                await callbacks
            if self._tick is not None:
                await asyncio.gather(self._tick, return_exceptions=True)

    def _start_websub_tick(self) -> None:
        # In the background, one at a time: a slow hub (up to the fetch timeout per request) must not stall the
        # loop whose heartbeat /healthz watches.
        if self.websub is not None and (self._tick is None or self._tick.done()):
            self._tick = asyncio.ensure_future(self.websub_tick())

    def start_callback_server(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """Serve the WebSub callback endpoint until ``stop`` (None when push is off)."""
        if self.websub is None:
            return None
        app = create_callback_app(self.websub, self.ingest_pushed, self.settings.websub)
        return asyncio.create_task(serve_callbacks(app, self.settings.websub, stop))

    async def websub_tick(self) -> None:
        """Subscribe, renew and unsubscribe what is due; a Redis outage only delays it."""
        if self.websub is None:
            return
        try:
            await self.websub.tick(self.feeds.keys())
        except RedisError as exc:
            self.health.set_redis_ok(False, f"{type(exc).__name__}: {exc}")

    async def ingest_pushed(self, record: Subscription, body: bytes, content_type: str) -> int:
        """Publish the new items of a verified push: the same parser, ids, limits and seen markers as a poll."""
        feed = self.feeds.get(record.feed_url)
        if feed is None:
            return 0  # removed from the config; its unsubscription is under way
        now = self.clock.now()
        headers = {"content-type": content_type} if content_type else {}
        try:
            parsed = await self._in_workers(
                parse_feed, body, headers, feed.url, now, feed.name, feed.labels, feed.language
            )
        except FeedParseError as exc:
            FEED_ERRORS.labels(feed=feed.url, reason="push_not_a_feed").inc()
            log.warning("websub_push_unparsed", feed=feed.url, error=str(exc))
            return 0
        ITEMS_FETCHED.labels(feed=feed.url).inc(len(parsed.items))
        # The same full-text step as a poll: the safety-net poll finds these items seen and would never add it.
        items = await self.articles.enrich(feed, parsed.items)
        published = await self.publisher.publish_many(items)
        ITEMS_PUBLISHED.labels(feed=feed.url).inc(published.published)
        if published.waiting:
            # Back-pressure: what did not fit is not marked seen, so the safety-net poll publishes it later.
            log.warning("pushed_items_waiting_stream_full", feed=feed.url, waiting=published.waiting)
        return published.published

    def reload(self, load: FeedLoader) -> None:
        """Apply the feeds ``load`` returns; a bad config is logged and the running feeds are kept."""
        try:
            feeds = list(load())
        except Exception as exc:
            log.error("feeds_reload_failed", error=str(exc))
            return
        changes = self.schedule.sync(feeds)
        self.feeds = {feed.url: feed for feed in feeds if feed.enabled}
        if self.websub is not None:
            # Removed feeds are unsubscribed by the next tick; reconcile only schedules them.
            task = asyncio.ensure_future(self.websub.reconcile(list(self.feeds)))
            task.add_done_callback(lambda done: done.exception())
        log.info("feeds_reloaded", added=changes.added, removed=changes.removed, changed=changes.changed)

    async def _poll_scheduled(self, url: str) -> None:
        feed = self.feeds.get(url)
        if feed is None:
            return
        task = asyncio.ensure_future(self.poll_feed(feed, respect_schedule=True))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        # At shutdown the scheduler cancels this wrapper, not the poll: run() waits for the poll to finish. The
        # cancellation is expected then, and letting it through made APScheduler log it as a job error, traceback
        # and all, on every clean stop during a poll.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    async def _in_workers(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.workers, functools.partial(func, *args))

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
        half_interval = timedelta(seconds=(state.poll_interval or feed.interval or self.settings.default_interval) / 2)
        if state.last_success is not None and now - state.last_success < half_interval:
            return "polled recently (by another replica)"
        return None

    async def _poll_locked(self, feed: FeedConfig, state: FeedState, result: PollResult) -> None:
        now = self.clock.now()
        ref = FeedRef(url=feed.url, title=feed.name, labels=list(feed.labels))
        try:
            outcome = await self.fetcher.fetch(state.fetch_url, Validators(state.etag, state.last_modified), now)
            if isinstance(outcome, FetchedFeed):
                parsed = await self._in_workers(
                    parse_feed, outcome.content, outcome.headers, feed.url, now, feed.name, feed.labels, feed.language
                )
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
            # Article pages only for new items, and only where full text is wanted (services/poller/fulltext.py).
            items = await self.articles.enrich(feed, parsed.items)
            published = await self.publisher.publish_many(items)
            result.published, result.waiting = published.published, published.waiting
            ITEMS_PUBLISHED.labels(feed=feed.url).inc(result.published)
            self._remember_publications(state, parsed.items, result.published, now)
            await self._observe_hub(feed, outcome, parsed)
            state.items_waiting = result.waiting
            if result.waiting:
                # Back-pressure: the unpublished items are not marked seen and the validators stay as they were,
                # so the next poll gets the whole feed again (no 304) and publishes them once there is room.
                log.warning("items_waiting_stream_full", url=feed.url, waiting=result.waiting,
                            published=result.published)  # fmt: skip
            else:
                # Only now, with every item out, may the validators move: a 304 must never hide an unpublished item.
                state.etag, state.last_modified = outcome.validators.etag, outcome.validators.last_modified
        self._remember_move(state, outcome.permanent_url)
        await self._record_success(feed, state, ref, now, result.published)
        log.info("feed_polled", url=feed.url, found=result.found, published=result.published,
                 not_modified=result.not_modified)  # fmt: skip

    def _remember_publications(self, state: FeedState, items: list[Item], published: int, now: datetime) -> None:
        # Undated items can only be timed by when a poll first saw them; in a feed with dates, the dates count.
        undated = published if items and all(item.published_estimated for item in items) else 0
        first_poll = state.last_success is None
        state.publish_times = remember_publications(
            state.publish_times, items, undated, now.timestamp(), first_poll=first_poll
        )

    async def _observe_hub(self, feed: FeedConfig, outcome: FetchedFeed, parsed: ParsedFeed) -> None:
        if self.websub is None:
            return
        try:
            await self.websub.observe(feed.url, discover(outcome.links, parsed.links, outcome.url))
        except RedisError:
            raise
        except Exception as exc:  # discovery must never fail a poll whose items already went out
            log.warning("websub_discovery_failed", url=feed.url, error=f"{type(exc).__name__}: {exc}")

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
        if self.websub is not None:
            # Items that came by push are seen, not new, when the poll finds them: the feed is not stale for it.
            pushed_at = await self.websub.store.last_new_item_at(feed.url)
            if pushed_at is not None and pushed_at > state.last_new_item:
                state.last_new_item = pushed_at
        push_live = self.websub is not None and await self.websub.is_live(feed.url)
        interval = poll_interval(feed, self.settings, state.publish_times, now.timestamp(), push_live=push_live)
        state.poll_interval = interval
        state.next_poll = now + timedelta(seconds=interval)
        self.schedule.set_interval(feed.url, interval)
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
        interval = state.poll_interval or feed.interval or self.settings.default_interval
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

"""The consume loop every service runs: read, handle, ack; ride out Redis outages; stop gracefully.

It sits above shared/streams.py (the reader and its types) and imports it; streams.py never imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.logging import get_logger
from shared.redis_client import FAILOVER_ERRORS, drop_idle_connections
from shared.stream_bounds import unread_deleted
from shared.stream_gauges import export_stream_gauges
from shared.streams import BatchHandler, StreamConsumer, StreamEntry, StreamNames

# What "Redis is down or restarting" looks like to a client: refused or reset connections, timeouts, and
# LOADING while a restarted server replays its AOF (BusyLoadingError is a ConnectionError).
# A cluster or Sentinel failover adds a few more (shared/redis_client.py): they pass the same way.
REDIS_DOWN: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
    *FAILOVER_ERRORS,
)
log = get_logger(__name__)


def transport_glitch(exc: BaseException) -> bool:
    """An AttributeError or TypeError raised inside redis-py's or asyncio's own connection code: what a write on a
    connection the server just reset raises instead of ConnectionError (redis-py issue #4287, seen here as
    "'NoneType' object has no attribute 'writelines'" on a cluster master killed mid-run). Nothing of ours raised
    it, so it is Redis going away, not a bug of the service: it must not end the process."""
    if not isinstance(exc, (AttributeError, TypeError)):
        return False
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return False
    where = frame.tb_frame.f_code.co_filename.replace("\\", "/")
    return "/redis/" in where or where.endswith(("/asyncio/streams.py", "/asyncio/selector_events.py"))


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing, at its stored position, else at the beginning.

    A group Redis lost (restored from an old snapshot, destroyed by hand) starts where its acks had got to: from 0
    it would re-deliver every entry, including alerts older than the notifier's delivery-state TTL.
    """
    stored = await redis.get(StreamNames.group_position(stream, group))
    position = stored.decode() if isinstance(stored, bytes) else (stored or "0")
    try:
        await redis.xgroup_create(stream, group, id=position, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return
    if stored:
        log.warning("consumer_group_created_at_position", stream=stream, group=group, position=position)


async def answers_ping(redis: Redis) -> bool:
    """Whether Redis answers PING, asked on a fresh connection if a pooled one fails.

    Idle pooled connections go stale when Redis restarts, and each fails once when next used: dropping
    them before the second PING keeps one stale socket from passing for an outage.
    """
    try:
        return bool(await redis.ping())
    except REDIS_DOWN:
        await drop_idle_connections(redis)
    try:
        return bool(await redis.ping())
    except REDIS_DOWN:
        return False


async def consume(
    consumer: StreamConsumer,
    handle: BatchHandler,
    stop: asyncio.Event,
    *,
    drain: bool = False,
    retry_delay: float = 1.0,
) -> int:
    """Run ``handle`` over the stream until ``stop`` is set, or (drain) until nothing is left; returns entries acked.

    On ``stop`` mid-batch the batch may finish within ``settings.shutdown_grace``; otherwise it is
    cancelled and its entries stay pending for the next start (or another consumer's takeover).
    """
    loop = _Loop(consumer, handle, stop, drain=drain, retry_delay=retry_delay)
    return await loop.run()


class _Loop:
    """State of one consume loop: the count of acked entries and the Redis outage backoff."""

    def __init__(
        self, consumer: StreamConsumer, handle: BatchHandler, stop: asyncio.Event, *, drain: bool, retry_delay: float
    ) -> None:
        self.consumer, self.handle, self.stop = consumer, handle, stop
        self.drain, self.retry_delay = drain, retry_delay
        self.acked = 0
        self.failures = 0  # consecutive failed attempts to reach Redis
        self.reported_down = False  # logged redis_unreachable (when no HealthState does the logging)
        self.backoff = ExponentialWithJitterBackoff(cap=consumer.settings.reconnect_max_backoff, base=0.1)
        self.swept_empty = False
        self.next_gauges = 0.0  # monotonic time of the next gauge refresh

    async def run(self) -> int:
        while not self.stop.is_set():
            try:
                finished = await self._iteration()
            except REDIS_DOWN as exc:
                await self._redis_down(exc)
                continue
            except (AttributeError, TypeError) as exc:
                if not transport_glitch(exc):
                    raise
                await self._redis_down(RedisConnectionError(f"connection lost mid-command ({exc})"))
                continue
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis came back without its data (no AOF): recreate the group and start over from the stream.
                log.warning("consumer_group_recreated", stream=self.consumer.stream, group=self.consumer.group)
                await ensure_group(self.consumer.redis, self.consumer.stream, self.consumer.group)
                continue
            if finished:
                break
        return self.acked

    async def _iteration(self) -> bool:
        """One read-handle-ack round; True when a drain is complete."""
        consumer = self.consumer
        entries = await consumer.read(block=not self.drain)
        self._redis_up()
        if consumer.clock() >= self.next_gauges:
            await export_stream_gauges(consumer.redis, consumer.stream, consumer.group, consumer.dead_letter_stream)
            await self._check_unread_deleted()
            self.next_gauges = consumer.clock() + consumer.settings.sweep_interval
        if not entries:
            if not self.drain:
                return False
            # Drain: before declaring the stream empty, look once more for idle entries of dead consumers.
            if self.swept_empty:
                return True
            self.swept_empty = True
            consumer.sweep_now()
            return False
        self.swept_empty = False
        done = await self._handle(entries)
        if done is None:
            return False
        await consumer.ack(done)
        self.acked += len(done)
        return False

    async def _check_unread_deleted(self) -> None:
        """Say so (log, metric, /healthz) when entries this group never read were deleted: lost despite
        back-pressure, e.g. trimmed by hand or by an older producer's MAXLEN (Redis >= 7 can tell)."""
        consumer = self.consumer
        if await unread_deleted(consumer.redis, consumer.stream, consumer.group):
            log.error("unread_entries_deleted", stream=consumer.stream, group=consumer.group)
            if consumer.health is not None:
                message = f"entries group {consumer.group} never read were deleted from {consumer.stream}"
                consumer.health.warn(f"{consumer.stream} unread entries deleted", message)

    async def _handle(self, entries: list[StreamEntry]) -> Sequence[str] | None:
        """The handler's done ids; None when the batch failed or was abandoned at shutdown (entries stay pending)."""
        task = asyncio.ensure_future(self.handle(entries))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                grace = self.consumer.settings.shutdown_grace
                log.info("shutdown_finishing_batch", stream=self.consumer.stream, entries=len(entries), grace=grace)
                await asyncio.wait({task}, timeout=grace)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                log.warning("shutdown_batch_left_pending", stream=self.consumer.stream, entries=len(entries))
                return None
        finally:
            stopping.cancel()
        try:
            return task.result()
        except REDIS_DOWN:
            self.consumer.reread_pending()
            raise
        except Exception as exc:
            # Unacked entries stay pending and are re-read one at a time, so a poison entry is isolated and,
            # after max_deliveries, dead-lettered; wait so a persistent fault does not spin.
            log.exception("batch_failed", stream=self.consumer.stream, entries=len(entries))
            self.consumer.record_error([entry.id for entry in entries], f"{type(exc).__name__}: {exc}")
            self.consumer.reread_pending()
            await _sleep_or_stop(self.stop, self.retry_delay)
            return None

    async def _redis_down(self, exc: BaseException) -> None:
        self.failures += 1
        # Whatever was read but not acked is re-read once Redis answers again.
        self.consumer.reread_pending()
        error = f"{type(exc).__name__}: {exc}"
        asked_at = time.monotonic()  # the timebase of HealthState
        if await answers_ping(self.consumer.redis):
            # A pooled connection that went stale across a Redis restart fails once after Redis is back: that
            # is not an outage, and reporting it would flap /healthz and the log.
            log.debug("redis_command_failed", stream=self.consumer.stream, error=error)
        elif self.consumer.health is not None:
            self.consumer.health.set_redis_ok(False, error=error, observed_at=asked_at)
        elif not self.reported_down:
            self.reported_down = True
            log.warning("redis_unreachable", stream=self.consumer.stream, error=error)
        await _sleep_or_stop(self.stop, self.backoff.compute(self.failures))

    def _redis_up(self) -> None:
        if self.consumer.health is not None:
            self.consumer.health.beat(redis_ok=True)
        elif self.reported_down:
            self.reported_down = False
            log.info("redis_reachable", stream=self.consumer.stream)
        self.failures = 0


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

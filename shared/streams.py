"""Redis Streams helpers: stream names, publishing, and a consumer-group reader with a drain mode.

Delivery semantics: entries are read through a consumer group and acked only after the handler says
they are done, so a crash leaves them pending; on start a consumer first re-reads its own pending
entries (id ``0``) and only then asks for new ones (``>``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.logging import get_logger

DATA_FIELD = "data"
log = get_logger(__name__)


@dataclass(frozen=True)
class StreamNames:
    """Every Redis key Tripwire uses, under one prefix."""

    prefix: str = "tripwire:"

    @property
    def items(self) -> str:
        """Poller -> classifier."""
        return f"{self.prefix}items"

    @property
    def alerts(self) -> str:
        """Classifier (and poller feed health) -> notifier."""
        return f"{self.prefix}alerts"

    @property
    def dlq(self) -> str:
        """Deliveries and entries that failed for good."""
        return f"{self.prefix}dlq"

    def key(self, *parts: str) -> str:
        """Any other key, e.g. ``key("seen", item_id)``."""
        return self.prefix + ":".join(parts)


@dataclass(frozen=True)
class StreamEntry:
    """One entry read from a stream; ``data`` is None when the entry was trimmed while pending."""

    id: str
    data: str | None


BatchHandler = Callable[[list[StreamEntry]], Awaitable[Sequence[str]]]
"""Handles a batch and returns the ids that are done (and may be acked)."""


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing; reading starts at the stream's beginning."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def publish(redis: Redis, stream: str, document: str, maxlen: int) -> str:
    """Append one JSON document; the stream is capped near ``maxlen`` entries."""
    entry_id = await redis.xadd(stream, {DATA_FIELD: document}, maxlen=maxlen, approximate=True)
    return _text(entry_id)


class StreamConsumer:
    """Reads one stream through a consumer group: own pending entries first, then new ones."""

    def __init__(
        self, redis: Redis, stream: str, group: str, consumer: str, *, count: int = 32, block_ms: int = 1000
    ) -> None:
        self.redis, self.stream, self.group, self.consumer = redis, stream, group, consumer
        self.count, self.block_ms = count, block_ms
        self._pending_cursor: str | None = "0"

    async def read(self, *, block: bool = True) -> list[StreamEntry]:
        """Next batch: pending entries of this consumer until none are left, then new entries."""
        if self._pending_cursor is not None:
            entries = await self._xread(self._pending_cursor, block_ms=None)
            if entries:
                self._pending_cursor = entries[-1].id
                return entries
            self._pending_cursor = None
        return await self._xread(">", block_ms=self.block_ms if block else None)

    async def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge finished entries."""
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)

    def reread_pending(self) -> None:
        """Go back over this consumer's pending entries on the next read (after a failed batch)."""
        self._pending_cursor = "0"

    async def _xread(self, cursor: str, block_ms: int | None) -> list[StreamEntry]:
        reply: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]] = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: cursor}, count=self.count, block=block_ms
        )  # type: ignore[assignment]
        entries: list[StreamEntry] = []
        for _stream, messages in reply or []:
            for entry_id, fields in messages:
                raw = (fields or {}).get(DATA_FIELD.encode()) if fields else None
                entries.append(StreamEntry(_text(entry_id), _text(raw) if raw is not None else None))
        return entries


async def consume(
    consumer: StreamConsumer,
    handle: BatchHandler,
    stop: asyncio.Event,
    *,
    drain: bool = False,
    retry_delay: float = 1.0,
) -> int:
    """Run ``handle`` over the stream until ``stop`` is set, or (drain) until nothing is left; returns entries acked."""
    acked = 0
    while not stop.is_set():
        entries = await consumer.read(block=not drain)
        if not entries:
            if drain:
                return acked
            continue
        try:
            done = await handle(entries)
        except Exception:
            # Unacked entries stay pending and are read again; wait so a persistent fault does not spin.
            log.exception("batch_failed", stream=consumer.stream, entries=len(entries))
            consumer.reread_pending()
            await _sleep_or_stop(stop, retry_delay)
            continue
        await consumer.ack(done)
        acked += len(done)
    return acked


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["StreamConsumer", "StreamEntry", "StreamNames", "consume", "ensure_group", "publish"]

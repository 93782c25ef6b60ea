"""Redis Streams helpers: stream names, publishing, and a consumer-group reader with a drain mode.

Delivery semantics (at least once; downstream deduplicates on stable ids):
- entries are read through a consumer group and acked only after the handler says they are done, so a
  crash leaves them pending;
- on start a consumer first re-reads its own pending entries (id ``0``), then takes over entries idle
  longer than ``reclaim_idle`` from consumers presumed dead (XAUTOCLAIM), and only then asks for new
  ones (``>``); it sweeps for idle entries again every ``sweep_interval``;
- recovered entries (re-read or taken over) are handled ONE AT A TIME, so an entry that crashes its
  consumer only raises its own delivery count, never its neighbours';
- an entry delivered more than ``max_deliveries`` times is poison: it is copied to the dead-letter
  stream with its error and acked in one MULTI, so it is never lost nor retried forever;
- an entry trimmed or deleted while pending comes back with no fields: it is acked, counted and
  logged, never passed to the handler (producers never trim unread entries: shared/stream_bounds.py);
- an entry a handler cannot parse (bad JSON, unknown schema version) is not acked unseen: the handler queues
  ``dead_letter_invalid`` with its reason and raw fields, so ``tripwire dlq replay`` can put it back after an
  upgrade;
- every ack also records the group's position (everything at or before it is acked), so a group that Redis lost
  is recreated there (``ensure_group`` in shared/stream_consume.py), not at 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.config import RedisSettings
from shared.config.streams import StreamSettings
from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import DEAD_LETTERS, ENTRIES_INVALID, ENTRIES_RECLAIMED, ENTRIES_TRIMMED, PROCESSING_SECONDS
from shared.redis_client import same_slot
from shared.stream_bounds import trim_acked

DATA_FIELD = "data"
DEAD_LETTER_MAXLEN = 100_000  # the default of redis.maxlen; the runtime passes the configured one
RECOVERY_BATCH = 1  # see the module docstring: isolation of poison entries
log = get_logger(__name__)


# Redis Cluster: keys that one Lua script or MULTI/EXEC touches together must share a slot, so in cluster mode each
# group below shares a hash tag. Groups are as small as atomicity allows, so they land on different masters:
# {items} the items stream and the poller's seen-id buckets (published together, atomically);
# {notify} the notifier's delivery states, records, schedule, fenced leases (tokens, counter, "send started"),
# held digests and the dead-letter stream; {feeds} the feed states (read with one MGET); {articles} the full-text
# cache (one MGET); {websub} the WebSub subscriptions (one MULTI); {learned} the learned examples and their
# version; {stories:<topic>} one topic's stories (see services/classifier/stories.py). The alerts stream stands alone.
_TAG_OF_FIRST_PART = {
    "seen": "items",
    "deliveries": "notify", "delivery_schedule": "notify", "delivery": "notify", "held": "notify",
    "held_due": "notify", "disabled": "notify", "delivery_leases": "notify", "delivery_sending": "notify",
    "delivery_lease_seq": "notify",
    "feed": "feeds", "article": "articles", "websub": "websub", "learned": "learned",
}  # fmt: skip


@dataclass(frozen=True)
class StreamNames:
    """Every Redis key Tripwire uses, under one prefix; with ``cluster``, keys used together share a hash tag."""

    prefix: str = "tripwire:"
    cluster: bool = False

    @classmethod
    def of(cls, redis: RedisSettings) -> StreamNames:
        """The names for the configured prefix and topology."""
        return cls(redis.stream_prefix, cluster=redis.mode == "cluster")

    @property
    def items(self) -> str:
        """Poller -> classifier."""
        return self.tagged("items") if self.cluster else f"{self.prefix}items"

    @property
    def alerts(self) -> str:
        """Classifier (and poller feed health) -> notifier."""
        return self.tagged("alerts") if self.cluster else f"{self.prefix}alerts"

    @property
    def dlq(self) -> str:
        """Deliveries and entries that failed for good."""
        return self.tagged("notify", "dlq") if self.cluster else f"{self.prefix}dlq"

    def key(self, *parts: str) -> str:
        """Any other key, e.g. ``key("seen", item_id)``; in cluster mode tagged by its group (see above)."""
        tag = _TAG_OF_FIRST_PART.get(parts[0]) if self.cluster and parts else None
        return self.tagged(tag, *parts) if tag else self.prefix + ":".join(parts)

    def tagged(self, tag: str, *parts: str) -> str:
        """A key in hash-tag group ``tag`` (cluster mode); the same key without the tag's braces otherwise."""
        head = f"{{{tag}}}" if self.cluster else tag
        return self.prefix + ":".join((head, *parts))

    @staticmethod
    def group_position(stream: str, group: str) -> str:
        """Where a group's position (last id with everything up to it acked) is kept, to recreate the group."""
        return f"{stream}:position:{group}"

    @classmethod
    def dead_letters_for(cls, stream: str) -> str:
        """The dead-letter stream under the same prefix as ``stream`` (``tripwire:items`` -> ``tripwire:dlq``)."""
        for suffix in ("items", "alerts"):
            if stream.endswith(suffix) and len(stream) > len(suffix):
                return cls(stream[: -len(suffix)]).dlq
        return f"{stream}:dlq"


@dataclass(frozen=True)
class StreamEntry:
    """One entry read from a stream; ``data`` is None when the entry was trimmed while pending."""

    id: str
    data: str | None
    fields: dict[str, str] = field(default_factory=dict, compare=False)  # every raw field, for dead letters


BatchHandler = Callable[[list[StreamEntry]], Awaitable[Sequence[str]]]
"""Handles a batch and returns the ids that are done (and may be acked)."""


async def publish(redis: Redis, stream: str, document: str, maxlen: int) -> str:
    """Append one JSON document; past ``maxlen`` entries, trim those every group has acked (never unread ones)."""
    entry_id = await redis.xadd(stream, {DATA_FIELD: document})
    if await redis.xlen(stream) > maxlen:
        await trim_acked(redis, stream, maxlen)
    return _text(entry_id)


def dead_letter_invalid(
    pipe: Pipeline, dead_letters: str, maxlen: int, stream: str, group: str, entry: StreamEntry, reason: str
) -> None:
    """Queue the dead letter of an entry that cannot be parsed (bad JSON, unknown schema version) on ``pipe``.

    Run it in the same transaction as the batch's other work, then ack: the entry is never acked unseen. The
    record keeps the raw fields, so ``tripwire dlq replay`` can put it back on ``stream`` after an upgrade.
    """
    record = {
        "kind": "entry", "source": stream, "group": group, "entry_id": entry.id, "reason": reason,
        "error": reason, "data": entry.data, "fields": entry.fields,
    }  # fmt: skip
    pipe.xadd(dead_letters, {DATA_FIELD: json.dumps(record, ensure_ascii=False)}, maxlen=maxlen, approximate=True)


def count_invalid(stream: str, reason: str) -> None:
    """Count a dead-lettered invalid entry (after the transaction that wrote it succeeded)."""
    kind = "unknown_version" if "schema version" in reason else "invalid"
    ENTRIES_INVALID.labels(stream=stream, reason=kind).inc()
    DEAD_LETTERS.labels(source=stream).inc()


# KEYS: stream, position key. ARGV: group, ids... Acks, then records the group's position: the entry before its
# oldest pending one, or the newest id acked when nothing is pending; it only moves forward.
_ACK = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function greater(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am > bm or (am == bm and as > bs)
end
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
local position
if pending[1] > 0 then
  local ms, seq = parse(pending[2])
  if seq > 0 then position = ms .. '-' .. (seq - 1) else position = (ms - 1) .. '-18446744073709551615' end
else
  position = ids[1]
  for _, id in ipairs(ids) do if greater(id, position) then position = id end end
end
local stored = redis.call('GET', KEYS[2])
if not stored or greater(position, stored) then redis.call('SET', KEYS[2], position) end
return acked
"""


class StreamConsumer:
    """Reads one stream through a consumer group: own pending entries, then idle ones of dead consumers, then new."""

    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int = 32,
        block_ms: int = 1000,
        settings: StreamSettings | None = None,
        dead_letter_stream: str | None = None,
        health: HealthState | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.stream, self.group, self.consumer = redis, stream, group, consumer
        self.count, self.block_ms = count, block_ms
        self.settings = settings or StreamSettings()
        self.dead_letter_stream = dead_letter_stream or StreamNames.dead_letters_for(stream)
        self.dead_letter_maxlen = DEAD_LETTER_MAXLEN
        self.health = health
        self.clock, self.wall_clock = clock, wall_clock
        self._pending_cursor: str | None = "0"
        self._reread = 0  # own pending entries re-read in the current pass (logged when it ends)
        self._claim_cursor: str | None = None
        self._next_sweep = clock()  # the first sweep runs right after the own pending entries
        self._errors: dict[str, str] = {}  # last handler error per entry id, for the dead-letter record
        self.position_key = StreamNames.group_position(stream, group)
        self._ack = redis.register_script(_ACK)

    def configure(
        self,
        *,
        settings: StreamSettings | None = None,
        dead_letter_stream: str | None = None,
        dead_letter_maxlen: int | None = None,
        health: HealthState | None = None,
    ) -> StreamConsumer:
        """Apply the runtime's settings to a consumer a service built with defaults; returns it."""
        if settings is not None:
            self.settings = settings
        if dead_letter_stream is not None:
            self.dead_letter_stream = dead_letter_stream
        if dead_letter_maxlen is not None:
            self.dead_letter_maxlen = dead_letter_maxlen
        if health is not None:
            self.health = health
        return self

    async def read(self, *, block: bool = True) -> list[StreamEntry]:
        """Next batch for the handler: own pending entries, then idle entries taken over, then new entries."""
        while True:
            recovered = await self._read_recovery()
            if recovered is None:
                return await self._xread(">", block_ms=self.block_ms if block else None, count=self.count)
            live = await self._screen(recovered)
            if live:
                return live

    async def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge finished entries, and record how long each took from publish to done."""
        if ids:
            await self._ack(keys=[self.stream, self.position_key], args=[self.group, *ids])
            now_ms = self.wall_clock() * 1000
            latency = PROCESSING_SECONDS.labels(stage=self.group)
            for entry_id in ids:
                self._errors.pop(entry_id, None)
                # An entry id starts with the publish time in ms (Redis' clock: same host or NTP-synced).
                latency.observe(max(0.0, now_ms - int(entry_id.split("-", 1)[0])) / 1000)

    def reread_pending(self) -> None:
        """Go back over this consumer's pending entries on the next read (after a failed batch)."""
        self._pending_cursor = "0"

    def sweep_now(self) -> None:
        """Look for idle entries of dead consumers on the next read, whatever the interval."""
        self._next_sweep = self.clock()

    def record_error(self, ids: Sequence[str], error: str) -> None:
        """Remember why a batch failed, for the dead-letter record of an entry that keeps failing."""
        for entry_id in ids:
            self._errors[entry_id] = error[:500]

    @property
    def recovering(self) -> bool:
        """True while own pending entries or a takeover sweep are being worked through."""
        return self._pending_cursor is not None or self._claim_cursor is not None

    async def _read_recovery(self) -> list[StreamEntry] | None:
        """The next recovered entry (a list of at most one), [] if it was screened out, None when none are left."""
        if self._pending_cursor is not None:
            entries = await self._xread(self._pending_cursor, block_ms=None, count=RECOVERY_BATCH)
            if entries:
                self._pending_cursor = entries[-1].id
                self._reread += len(entries)
                return entries
            self._pending_cursor = None
            if self._reread:
                log.info("pending_entries_reread", stream=self.stream, group=self.group, count=self._reread)
                self._reread = 0
        if self._claim_cursor is None and self.clock() >= self._next_sweep:
            self._claim_cursor = "0-0"
            self._next_sweep = self.clock() + self.settings.sweep_interval
        if self._claim_cursor is not None:
            return await self._claim_next()
        return None

    async def _claim_next(self) -> list[StreamEntry]:
        """Take over the next entry idle longer than ``reclaim_idle`` (XAUTOCLAIM pages through the group's PEL)."""
        min_idle_ms = int(self.settings.reclaim_idle * 1000)
        reply: list[Any] = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, start_id=self._claim_cursor or "0-0",
            count=RECOVERY_BATCH,
        )  # fmt: skip
        cursor = _text(reply[0])
        self._claim_cursor = None if cursor == "0-0" else cursor
        entries: list[StreamEntry] = []
        for entry_id, fields in reply[1]:
            if entry_id is None:
                # Redis 6.2 claims a deleted entry but answers nil for it: it is now in our PEL, where the
                # re-read of our own pending entries finds it (with no fields) and acks it as trimmed.
                self.reread_pending()
                continue
            entries.append(StreamEntry(_text(entry_id), _field(fields), _fields(fields)))
        # Redis >= 7 drops deleted entries from the PEL itself and lists their ids third: count them.
        deleted = reply[2] if len(reply) > 2 else []
        for entry_id in deleted:
            self._count_trimmed(_text(entry_id))
        if entries:
            ENTRIES_RECLAIMED.labels(stream=self.stream).inc(len(entries))
            log.info("entries_reclaimed", stream=self.stream, group=self.group, count=len(entries), first=entries[0].id)
        return entries

    async def _screen(self, entries: list[StreamEntry]) -> list[StreamEntry]:
        """Ack trimmed entries and dead-letter poison ones; return the rest for the handler."""
        live = []
        for entry in entries:
            if entry.data is None:
                await self.redis.xack(self.stream, self.group, entry.id)
                self._count_trimmed(entry.id)
                continue
            deliveries = await self._deliveries(entry.id)
            if deliveries > self.settings.max_deliveries:
                await self._dead_letter(entry, deliveries)
                continue
            live.append(entry)
        return live

    async def _deliveries(self, entry_id: str) -> int:
        """How often the group delivered ``entry_id`` (XPENDING); 0 when it is no longer pending."""
        rows = await self.redis.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        return int(rows[0]["times_delivered"]) if rows else 0

    async def _dead_letter(self, entry: StreamEntry, deliveries: int) -> None:
        error = self._errors.pop(entry.id, None) or (
            f"not acknowledged after {deliveries} deliveries (its consumer crashed or never finished it)"
        )
        record = {
            "kind": "entry", "source": self.stream, "group": self.group, "entry_id": entry.id, "error": error,
            "reason": error, "deliveries": deliveries, "data": entry.data, "fields": entry.fields,
        }  # fmt: skip
        fields = {DATA_FIELD: json.dumps(record)}
        if same_slot(self.redis, self.dead_letter_stream, self.stream):
            # One MULTI: the copy and the ack happen together, so the entry is neither lost nor left to retry.
            pipe = self.redis.pipeline(transaction=True)
            pipe.xadd(self.dead_letter_stream, fields, maxlen=self.dead_letter_maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.xack(self.stream, self.group, entry.id)
            await pipe.execute()
        else:
            # On a cluster the two streams sit in different slots: copy, then ack. A crash in between leaves the
            # entry pending, to be dead-lettered again (a second copy, never a lost entry).
            await self.redis.xadd(self.dead_letter_stream, fields, maxlen=self.dead_letter_maxlen, approximate=True)  # type: ignore[arg-type]
            await self.redis.xack(self.stream, self.group, entry.id)
        DEAD_LETTERS.labels(source=self.stream).inc()
        log.error("entry_dead_lettered", stream=self.stream, entry_id=entry.id, deliveries=deliveries, error=error)

    def _count_trimmed(self, entry_id: str) -> None:
        ENTRIES_TRIMMED.labels(stream=self.stream).inc()
        self._errors.pop(entry_id, None)
        log.warning("entry_trimmed", stream=self.stream, group=self.group, entry_id=entry_id)

    async def _xread(self, cursor: str, block_ms: int | None, count: int) -> list[StreamEntry]:
        reply: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]] = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: cursor}, count=count, block=block_ms
        )  # type: ignore[assignment]
        entries: list[StreamEntry] = []
        for _stream, messages in reply or []:
            for entry_id, fields in messages:
                entries.append(StreamEntry(_text(entry_id), _field(fields), _fields(fields)))
        return entries


def _field(fields: dict[bytes, bytes] | None) -> str | None:
    """The ``data`` field, or None for an entry trimmed while pending (Redis answers nil or no fields)."""
    raw = fields.get(DATA_FIELD.encode()) if fields else None
    return _text(raw) if raw is not None else None


def _fields(fields: dict[bytes, bytes] | None) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (fields or {}).items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = [
    "BatchHandler",
    "StreamConsumer",
    "StreamEntry",
    "StreamNames",
    "count_invalid",
    "dead_letter_invalid",
    "publish",
]

"""Bounded streams without losing unread work: trim only what every group has acked, make producers wait.

``XADD ... MAXLEN`` trims the oldest entries whether or not a consumer read them, so a backlog larger than the
cap (a classifier down for an hour) silently lost items. Instead:

- producers append without MAXLEN, and trim with ``XTRIM MINID`` the oldest entries, never past the oldest entry
  some group still needs (its oldest pending entry, or the one after its last-delivered id), keeping acked ones as
  history up to ``redis.maxlen``. Works on Redis 6.2 and 7 (no ACKED option, which needs 8.2);
- when ``redis.maxlen`` entries are left that cannot be trimmed (unread or unacked), the stream is full: the poller
  leaves items unpublished (and unseen, its validators unsaved, so the next poll fetches them again) and the
  classifier waits before publishing alerts;
- a stream with no group yet is never trimmed: nobody has read anything.

The full state and waits are metrics (``tripwire_stream_full``, ``tripwire_stream_waits_total``; the backlog per
group is ``tripwire_consumer_lag`` plus ``tripwire_pending_entries``) and appear in /healthz through
``HealthState.set_detail``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import STREAM_FULL, STREAM_UNREAD_DELETED, STREAM_WAITS

log = get_logger(__name__)
Sleep = Callable[[float], Awaitable[None]]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _after(entry_id: str) -> str:
    ms, seq = _parse(entry_id)
    return f"{ms}-{seq + 1}"


async def acked_floor(redis: Redis, stream: str) -> str | None:
    """The id below which every group has read and acked every entry; None when nothing may be trimmed."""
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream yet
        return None
    floor: tuple[int, int] | None = None
    for info in groups:
        needed = _after(_text(info.get("last-delivered-id") or "0-0"))
        if int(info.get("pending") or 0):
            summary = await redis.xpending(stream, _text(info["name"]))
            if summary.get("min"):
                needed = min(needed, _text(summary["min"]), key=_parse)
        floor = _parse(needed) if floor is None else min(floor, _parse(needed))
    return f"{floor[0]}-{floor[1]}" if floor is not None else None


# KEYS: stream. ARGV: last id that may go ('' when none may), keep. Deletes the oldest entries, only ones below
# the floor (acked by every group), until at most ``keep`` are left; returns the length left. Acked entries are kept as
# history up to the cap (the console shows recent alerts from the stream); unread ones are never deleted.
_TRIM_ACKED = """
local len = redis.call('XLEN', KEYS[1])
local excess = len - tonumber(ARGV[2])
if ARGV[1] == '' or excess <= 0 then return len end
local oldest = redis.call('XRANGE', KEYS[1], '-', ARGV[1], 'COUNT', excess)
if #oldest == 0 then return len end
local last = oldest[#oldest][1]
local ms, seq = string.match(last, '^(%d+)-(%d+)$')
redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. (tonumber(seq) + 1))
return redis.call('XLEN', KEYS[1])
"""


async def trim_acked(redis: Redis, stream: str, keep: int) -> int:
    """Delete the oldest entries every group is done with until at most ``keep`` are left; returns the length left.

    Never deletes an entry some group has not read and acked, so the length may stay above ``keep``.
    """
    floor = await acked_floor(redis, stream)
    # The floor is the first entry some group needs; XRANGE's end is inclusive, so pass the id just below it.
    bound = _before(floor) if floor is not None else ""
    # Registered (not EVAL'd) so a cluster client preloads it on every primary (shared/redis_client.py).
    trim = redis.register_script(_TRIM_ACKED)
    return int(await trim(keys=[stream], args=[bound, max(0, keep)]))


def _before(entry_id: str) -> str:
    ms, seq = _parse(entry_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-18446744073709551615" if ms > 0 else ""


class StreamRoom:
    """A producer's view of one bounded stream: how much room is left, and waiting for it."""

    def __init__(
        self, redis: Redis, stream: str, maxlen: int, *, health: HealthState | None = None, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.redis, self.stream, self.maxlen, self.health, self.sleep = redis, stream, maxlen, health, sleep
        self.full = False

    async def free(self, needed: int = 1) -> int:
        """Make room for ``needed`` entries by trimming acked ones; returns how many may be added now."""
        length = await trim_acked(self.redis, self.stream, self.maxlen - needed)
        free = max(0, self.maxlen - length)
        self._set_full(free == 0, length)
        return free

    def refused(self, count: int) -> None:
        """A producer left ``count`` entries unpublished for lack of room (they are fetched again later)."""
        if count:
            STREAM_WAITS.labels(stream=self.stream).inc(count)
            self._set_full(True, self.maxlen)

    async def wait_for(self, needed: int, poll: float = 1.0) -> None:
        """Wait until ``needed`` entries fit (a batch larger than the cap waits for an empty stream)."""
        needed = min(needed, self.maxlen)
        waited = False
        while await self.free(needed) < needed:
            if not waited:
                log.warning("stream_full_waiting", stream=self.stream, maxlen=self.maxlen, needed=needed)
                STREAM_WAITS.labels(stream=self.stream).inc()
                waited = True
            await self.sleep(poll)
        if waited:
            log.info("stream_room_again", stream=self.stream)

    def _set_full(self, full: bool, length: int) -> None:
        if full != self.full:
            self.full = full
            if full:
                log.warning("stream_full", stream=self.stream, length=length, maxlen=self.maxlen)
        STREAM_FULL.labels(stream=self.stream).set(1 if full else 0)
        if self.health is not None:
            self.health.set_detail(f"stream {self.stream}", {"length": length, "maxlen": self.maxlen, "full": full})


async def unread_deleted(redis: Redis, stream: str, group: str) -> bool | None:
    """True when entries the group never read were deleted (trimmed by hand, or by an older producer's MAXLEN).

    Redis >= 7 says so (``max-deleted-entry-id`` past the group's ``last-delivered-id``); 6.2 cannot tell: None.
    """
    try:
        info: dict[str, Any] = await redis.xinfo_stream(stream)
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except ResponseError:
        return None
    deleted = info.get("max-deleted-entry-id")
    if deleted is None:
        return None
    for entry in groups:
        if _text(entry.get("name")) == group:
            lost = _parse(_text(deleted)) > _parse(_text(entry.get("last-delivered-id") or "0-0"))
            STREAM_UNREAD_DELETED.labels(stream=stream, group=group).set(1 if lost else 0)
            return lost
    return None

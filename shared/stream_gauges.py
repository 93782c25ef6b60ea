"""Stream gauges for /metrics: length, consumer lag and pending count, read from Redis by each consumer."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.metrics import CONSUMER_LAG, PENDING, STREAM_LENGTH, STREAM_MAXLEN

# Redis 6.2 reports no lag: count the undelivered entries on the server, up to this many.
_LAG_CAP = 10_000
_COUNT_AFTER = """
return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
"""


def export_stream_bounds(streams: list[str], maxlen: int) -> None:
    """Publish the configured approximate cap (``redis.maxlen``) of each stream."""
    for stream in streams:
        STREAM_MAXLEN.labels(stream=stream).set(maxlen)


async def export_stream_gauges(redis: Redis, stream: str, group: str, dead_letter_stream: str) -> None:
    """Refresh the length of ``stream`` and of the dead-letter stream, and the group's lag and pending count."""
    STREAM_LENGTH.labels(stream=stream).set(await redis.xlen(stream))
    STREAM_LENGTH.labels(stream=dead_letter_stream).set(await redis.xlen(dead_letter_stream))
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except ResponseError:  # the stream does not exist (yet)
        return
    for info in groups:
        if _text(info.get("name")) != group:
            continue
        PENDING.labels(stream=stream, group=group).set(int(info.get("pending") or 0))
        lag = await _lag(redis, stream, info)
        if lag is not None:
            CONSUMER_LAG.labels(stream=stream, group=group).set(lag)


async def _lag(redis: Redis, stream: str, group_info: dict[str, Any]) -> int | None:
    """Entries the group has not been delivered yet: XINFO's ``lag`` on Redis >= 7, else counted (capped)."""
    lag = group_info.get("lag")
    if lag is not None:
        return int(lag)
    # Redis 6.2 has no lag field, and 7.x answers nil after deletions: count the entries after last-delivered-id.
    last_delivered = _text(group_info.get("last-delivered-id") or "0-0")
    counted = await redis.eval(_COUNT_AFTER, 1, stream, last_delivered, _LAG_CAP)
    return int(counted)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def group_backlog(redis: Redis, stream: str, group: str) -> tuple[int | None, int]:
    """(lag, pending) of ``group`` on ``stream``: lag None when the group does not exist yet."""
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except ResponseError:  # the stream does not exist (yet)
        return None, 0
    for info in groups:
        if _text(info.get("name")) == group:
            return await _lag(redis, stream, info), int(info.get("pending") or 0)
    return None, 0

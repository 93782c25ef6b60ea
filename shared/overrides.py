"""Values in 0..1 set from the console and kept in a Redis hash (name -> value), applied over the config's.

The classifier keeps topic thresholds here and the notifier subscriptions' ``min_score``; each reads the whole hash
once per batch, so a saved value takes effect from the next message on and a deleted one returns to the config's.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis


async def load_unit_values(redis: Redis, key: str) -> dict[str, float]:
    """Every value in the hash; unreadable or out-of-range ones are skipped, so the config's value stands."""
    return unit_values(await redis.hgetall(key))


def unit_values(stored: Mapping[bytes | str, bytes | str]) -> dict[str, float]:
    """The readable values in range of a hash as HGETALL returned it (for callers that pipeline the read)."""
    values = {}
    for name, raw in stored.items():
        try:
            value = float(raw)
        except ValueError:
            continue
        if 0.0 <= value <= 1.0:
            values[name.decode() if isinstance(name, bytes) else str(name)] = value
    return values


async def save_unit_value(redis: Redis, key: str, name: str, value: float, what: str) -> None:
    """Set one value (0..1); ``what`` names it in the error ("threshold", "min_score")."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} {value} is outside 0..1")
    await redis.hset(key, name, repr(round(value, 4)))


async def clear_unit_value(redis: Redis, key: str, name: str) -> bool:
    """Remove one value; True when there was one."""
    return bool(await redis.hdel(key, name))

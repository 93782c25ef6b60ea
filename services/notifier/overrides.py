"""Subscription ``min_score`` values set from the console, kept in Redis and applied over the config's.

The notifier reads them once per batch of alerts (services/notifier/service.py), so a saved value decides routing
from the next alert it reads on; deliveries already scheduled or held stay as they were routed. Deleting the
override returns the subscription to its configured ``min_score`` (or to none) the same way.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared.streams import StreamNames


def min_scores_key(names: StreamNames) -> str:
    """The hash subscription -> min_score."""
    return names.key("overrides", "min_score")


async def load_min_scores(redis: Redis, names: StreamNames) -> dict[str, float]:
    """Every min_score override (unreadable or out-of-range values are ignored: the config's value stands)."""
    raw = await redis.hgetall(min_scores_key(names))
    min_scores = {}
    for name, value in raw.items():
        try:
            min_score = float(value)
        except ValueError:
            continue
        if 0.0 <= min_score <= 1.0:
            min_scores[name.decode() if isinstance(name, bytes) else str(name)] = min_score
    return min_scores


async def save_min_score(redis: Redis, names: StreamNames, subscription: str, min_score: float) -> None:
    """Set one subscription's override (0..1)."""
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score {min_score} is outside 0..1")
    await redis.hset(min_scores_key(names), subscription, repr(round(min_score, 4)))


async def clear_min_score(redis: Redis, names: StreamNames, subscription: str) -> bool:
    """Remove one subscription's override; True when there was one."""
    return bool(await redis.hdel(min_scores_key(names), subscription))

"""Subscription ``min_score`` values set from the console, kept in Redis and applied over the config's.

The notifier reads them once per batch of alerts (services/notifier/service.py), so a saved value decides routing
from the next alert it reads on; deliveries already scheduled or held stay as they were routed. Deleting the
override returns the subscription to its configured ``min_score`` (or to none) the same way.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared.overrides import clear_unit_value, load_unit_values, save_unit_value
from shared.streams import StreamNames


def min_scores_key(names: StreamNames) -> str:
    """The hash subscription -> min_score."""
    return names.key("overrides", "min_score")


async def load_min_scores(redis: Redis, names: StreamNames) -> dict[str, float]:
    """Every min_score override (unreadable or out-of-range values are ignored: the config's value stands)."""
    return await load_unit_values(redis, min_scores_key(names))


async def save_min_score(redis: Redis, names: StreamNames, subscription: str, min_score: float) -> None:
    """Set one subscription's override (0..1)."""
    await save_unit_value(redis, min_scores_key(names), subscription, min_score, "min_score")


async def clear_min_score(redis: Redis, names: StreamNames, subscription: str) -> bool:
    """Remove one subscription's override; True when there was one."""
    return await clear_unit_value(redis, min_scores_key(names), subscription)

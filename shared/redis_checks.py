"""Start-up checks of the Redis server's settings that decide whether Tripwire's promises can hold."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.health import HealthState
from shared.logging import get_logger

log = get_logger(__name__)


async def eviction_warning(redis: Redis) -> str | None:
    """A warning when ``maxmemory-policy`` lets Redis evict keys; None for noeviction or when it cannot be read.

    The seen markers, delivery states and leases are what make "published once" and "delivered once" true: a
    server that evicts them under memory pressure republishes items and re-sends alerts. Managed Redis services
    often refuse CONFIG GET; then there is nothing to check.
    """
    try:
        reply = await redis.config_get("maxmemory-policy")
    except RedisError:
        return None
    policy = reply.get("maxmemory-policy") or reply.get(b"maxmemory-policy")  # type: ignore[call-overload]
    if policy is None:
        return None
    policy = policy.decode() if isinstance(policy, bytes) else str(policy)
    if policy == "noeviction":
        return None
    return (
        f"Redis maxmemory-policy is {policy}: under memory pressure it may evict the keys that de-duplicate items "
        "and deliveries (duplicates, lost work); set maxmemory-policy noeviction"
    )


async def warn_if_evicting(redis: Redis, states: Iterable[HealthState]) -> str | None:
    """Log the eviction warning once and show it in each service's /healthz; returns it."""
    warning = await eviction_warning(redis)
    if warning is not None:
        log.warning("redis_may_evict", detail=warning)
        for state in states:
            state.warn("redis_eviction", warning)
    return warning

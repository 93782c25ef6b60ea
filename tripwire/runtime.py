"""Wiring shared by the commands: Redis (given or embedded), signals, the health server."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from shared.config import Settings
from shared.health import HealthServer, HealthState
from shared.logging import get_logger
from shared.redis_server import RedisServer

log = get_logger(__name__)


class UsageError(Exception):
    """The command cannot run as invoked; the message says what to do."""


@asynccontextmanager
async def redis_connection(settings: Settings, *, allow_embedded: bool, command: str) -> AsyncIterator[Redis]:
    """A client for REDIS_URL, or (``allow_embedded``) for a private server kept under the data directory."""
    server: RedisServer | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    elif allow_embedded:
        server = RedisServer(settings.config.data_dir / "redis")
        url = await asyncio.to_thread(server.start)
    else:
        raise UsageError(
            f"'tripwire {command}' needs REDIS_URL (for example redis://localhost:6379/0); "
            "only 'tripwire run' and 'tripwire demo' start a Redis of their own"
        )
    client = Redis.from_url(url, health_check_interval=30)
    try:
        await client.ping()
        yield client
    finally:
        await client.aclose()
        if server is not None:
            await asyncio.to_thread(server.stop)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, stop, sig)
    return stop


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("shutdown_requested", signal=sig.name)
    stop.set()


def start_health_server(settings: Settings, port: int, states: dict[str, HealthState]) -> HealthServer | None:
    """Serve /healthz and /metrics on the configured host and ``port`` (0 disables it)."""
    if port == 0:
        return None
    return HealthServer(settings.config.health.host, port, states).start()

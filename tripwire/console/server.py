"""Serving the console inside a Tripwire process: uvicorn, stopped by the process's own stop event."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Generator
from pathlib import Path

import uvicorn
from redis.asyncio import Redis

from shared.clock import Clock, SystemClock
from shared.config import ConsoleSettings, TripwireConfig
from shared.logging import get_logger
from tripwire.console.app import create_app
from tripwire.console.tuning import EmbedderFactory
from tripwire.runtime import UsageError

log = get_logger(__name__)


def check_exposure(console: ConsoleSettings) -> None:
    """Refuse to serve beyond loopback without a password: the console can replay and drop deliveries."""
    password = console.password.get_secret_value() if console.password is not None else ""
    if not password.strip() and not console.loopback_only:
        raise UsageError(
            f"console.host is {console.host!r} but console.password is not set; set console.password to "
            "${TRIPWIRE_CONSOLE_PASSWORD} and give TRIPWIRE_CONSOLE_PASSWORD a value (in the Docker stack: in .env), "
            "or bind to 127.0.0.1"
        )


def session_secret(console: ConsoleSettings) -> str:
    """The configured cookie-signing key, or a random one for this run."""
    if console.session_secret is not None:
        return console.session_secret.get_secret_value()
    return secrets.token_urlsafe(32)


class ConsoleServer(uvicorn.Server):
    """uvicorn, minus its own signal capture: SIGTERM sets Tripwire's stop event, which stops every part at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signals alone (uvicorn would re-raise SIGTERM after exiting, killing the process)."""
        yield


async def serve_console(
    config: TripwireConfig,
    redis: Redis,
    embedder_factory: EmbedderFactory,
    stop: asyncio.Event,
    clock: Clock | None = None,
    config_path: Path | None = None,
) -> None:
    """Serve the console on console.host:console.port until ``stop`` is set; ``config_path`` is the file its
    Manage page writes (with a password set)."""
    console = config.console
    check_exposure(console)
    app = create_app(
        config, redis, clock or SystemClock(), session_secret(console), embedder_factory, config_path=config_path
    )
    server = ConsoleServer(
        uvicorn.Config(app, host=console.host, port=console.port, log_config=None, server_header=False)
    )
    log.info("console_listening", host=console.host, port=console.port, login=console.password is not None)
    stopper = asyncio.create_task(_exit_when(stop, server))
    try:
        await server.serve()
    finally:
        stopper.cancel()


async def _exit_when(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True

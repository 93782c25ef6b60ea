"""``tripwire console``: the web console (feeds, items, alerts, dead letters) on console.host:console.port."""

from __future__ import annotations

import argparse
import secrets
from typing import Any

import uvicorn

from services.classifier.embedder import SentenceEmbedder
from shared.clock import SystemClock
from shared.config import ConsoleSettings, Settings
from shared.logging import get_logger
from tripwire.console.app import create_app
from tripwire.runtime import UsageError, redis_connection

log = get_logger(__name__)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``console`` subcommand."""
    console = subparsers.add_parser("console", parents=[common], help="serve the web console (needs REDIS_URL)")
    console.add_argument("--host", help="bind address (default: console.host in the config)")
    console.add_argument("--port", type=int, help="TCP port (default: console.port in the config)")
    console.set_defaults(handler=_console)


def check_exposure(console: ConsoleSettings) -> None:
    """Refuse to serve beyond loopback without a password: the console can replay and drop deliveries."""
    if console.password is None and not console.loopback_only:
        raise UsageError(
            f"console.host is {console.host!r} but console.password is not set; set console.password to "
            "${TRIPWIRE_CONSOLE_PASSWORD} and export it, or bind to 127.0.0.1"
        )


def session_secret(console: ConsoleSettings) -> str:
    """The configured cookie-signing key, or a random one for this run."""
    if console.session_secret is not None:
        return console.session_secret.get_secret_value()
    return secrets.token_urlsafe(32)


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    console = settings.config.console.model_copy(update=overrides)
    check_exposure(console)
    config = settings.config.model_copy(update={"console": console})
    async with redis_connection(settings, allow_embedded=False, command="console") as redis:
        classifier = config.classifier
        app = create_app(
            config, redis, SystemClock(), session_secret(console),
            lambda: SentenceEmbedder(classifier.model_path, classifier.batch_size),
        )  # fmt: skip
        server = uvicorn.Server(
            uvicorn.Config(app, host=console.host, port=console.port, log_config=None, server_header=False)
        )
        log.info("console_listening", host=console.host, port=console.port, login=console.password is not None)
        await server.serve()
    return 0

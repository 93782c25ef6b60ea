"""``tripwire console``: the web console (feeds, items, alerts, dead letters) on console.host:console.port."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.config import Settings


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``console`` subcommand."""
    console = subparsers.add_parser("console", parents=[common], help="serve the web console")
    console.add_argument("--host", help="bind address (default: console.host in the config)")
    console.add_argument("--port", type=int, help="TCP port (default: console.port in the config)")
    console.set_defaults(handler=_console)


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    # The console (Starlette) and the embedder load here, when the command runs, never for `tripwire --help`.
    from services.classifier.backends import make_embedder
    from tripwire.console.server import check_exposure, serve_console
    from tripwire.runtime import redis_connection, stop_on_signals

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    console = settings.config.console.model_copy(update=overrides)
    check_exposure(console)
    config = settings.config.model_copy(update={"console": console})
    stop = stop_on_signals()
    async with redis_connection(settings, allow_embedded=False, command="console", stop=stop) as redis:
        await serve_console(config, redis, lambda: make_embedder(config), stop, config_path=settings.config_path)
    return 0

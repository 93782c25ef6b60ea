"""The ``tripwire`` command line. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from services.classifier.embedder import ModelError
from shared.config import ConfigError, load_settings
from shared.logging import setup_logging
from tripwire import (
    cli_classifier,
    cli_config,
    cli_console,
    cli_feeds,
    cli_healthcheck,
    cli_model,
    cli_notifier,
    cli_services,
    cli_stories,
)
from tripwire.runtime import UsageError

EXIT_USAGE = 2
# Modules with ``register(subparsers, common)``; each subcommand sets ``handler(args, settings)``.
COMMAND_MODULES = (
    cli_services,
    cli_feeds,
    cli_classifier,
    cli_stories,
    cli_notifier,
    cli_config,
    cli_console,
    cli_model,
    cli_healthcheck,
)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", help="config file (default: $TRIPWIRE_CONFIG, config/tripwire.yaml)"
    )
    common.add_argument("--log-format", choices=["text", "json"], default="text", help="log line format")
    common.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    common.add_argument("--consumer", metavar="NAME", help="consumer name in the group (default: host name)")
    parser = argparse.ArgumentParser(prog="tripwire", description="News monitoring and alerting.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, load config, run; exit 2 with one clear line for bad config, usage or a model it lacks."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level.upper())
    try:
        settings = load_settings(args.config, consumer_name=args.consumer)
        result = asyncio.run(args.handler(args, settings))
    except (ConfigError, UsageError, ModelError) as exc:
        print(f"tripwire: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return int(result or 0)

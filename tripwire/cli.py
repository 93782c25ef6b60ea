"""The ``tripwire`` command line. Each area registers its subcommands from its own module.

Quick to start: building the parser imports only the light ``cli_*`` modules (argparse and the error tree); a
subcommand imports its service, the console or the model when it runs. ``tests/test_cli_startup.py`` holds that
promise (no onnxruntime, numpy, Starlette, pydantic, Redis or service module after ``build_parser``), and
``python -m bench cli_startup`` measures it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.errors import TripwireError, one_line
from tripwire import (
    cli_classifier,
    cli_config,
    cli_console,
    cli_feeds,
    cli_healthcheck,
    cli_model,
    cli_notifier,
    cli_services,
    cli_silence,
    cli_stories,
)

EXIT_USAGE = 2
# Modules with ``register(subparsers, common)``; each subcommand sets ``handler(args, settings)``.
COMMAND_MODULES = (
    cli_services,
    cli_feeds,
    cli_classifier,
    cli_stories,
    cli_notifier,
    cli_silence,
    cli_config,
    cli_console,
    cli_model,
    cli_healthcheck,
)


# The common options' defaults (build_parser says why they are applied after parsing).
COMMON_DEFAULTS: dict[str, str | None] = {"config": None, "log_format": "text", "log_level": "INFO", "consumer": None}


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    # The common options are on every level (`tripwire feeds --config X import` and `tripwire feeds import --config
    # X` alike). Their defaults are SUPPRESS, applied in main: with a real default, the innermost subcommand's parser
    # set it again and silently replaced a value given on an outer level, so `feeds --config X import --write`
    # wrote to the default config file instead of X.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--config", metavar="PATH", help="config file (default: $TRIPWIRE_CONFIG, config/tripwire.yaml)"
    )
    common.add_argument("--log-format", choices=["text", "json"], help="log line format (default: text)")
    common.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default: INFO)")
    common.add_argument("--consumer", metavar="NAME", help="consumer name in the group (default: host name)")
    parser = argparse.ArgumentParser(prog="tripwire", description="News monitoring and alerting.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, load config, run. Any TripwireError (bad config or input, a missing model, a refused
    request, ...) ends the command with ONE line on stderr and exit code 2, never a traceback."""
    args = build_parser().parse_args(argv)
    for name, default in COMMON_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    # Loaded after parsing, so `--help` and a usage error never pay for the config models (pydantic) or asyncio.
    import asyncio

    from shared.config import load_settings
    from shared.logging import setup_logging

    setup_logging(args.log_format, args.log_level.upper())
    try:
        settings = load_settings(args.config, consumer_name=args.consumer)
        result = asyncio.run(args.handler(args, settings))
    except TripwireError as exc:
        return report(exc)
    except BaseExceptionGroup as group:
        # A TaskGroup (``tripwire run``) wraps what its tasks raised: a group of nothing but TripwireErrors is
        # reported like one; a group holding anything else is a bug and keeps its traceback.
        errors, others = group.split(TripwireError)
        if errors is None or others is not None:
            raise
        return report(_leaves(errors)[0], more=len(_leaves(errors)) - 1)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def report(error: BaseException, *, more: int = 0) -> int:
    """Print ``error`` as one line on stderr (``tripwire: error: ...``); the exit code of a Tripwire error."""
    also = f" (and {more} more error{'s' if more != 1 else ''})" if more else ""
    print(f"tripwire: error: {one_line(error)}{also}", file=sys.stderr)
    return EXIT_USAGE


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return found

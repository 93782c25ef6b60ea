"""The ``tripwire`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from shared.config import ConfigError, Settings, load_settings
from shared.logging import setup_logging
from tripwire import commands, demo
from tripwire.runtime import UsageError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", help="config file (default: $TRIPWIRE_CONFIG or config/tripwire.yaml)"
    )
    common.add_argument("--log-format", choices=["text", "json"], default="text", help="log line format")
    common.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    common.add_argument("--consumer", metavar="NAME", help="consumer name in the group (default: host name)")

    parser = argparse.ArgumentParser(prog="tripwire", description="News monitoring and alerting.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run poller, classifier and notifier in one process")
    poller = sub.add_parser("poller", parents=[common], help="run the poller")
    poller.add_argument("--once", action="store_true", help="poll every feed once and exit")
    for name in ("classifier", "notifier"):
        service = sub.add_parser(name, parents=[common], help=f"run the {name}")
        service.add_argument("--drain", action="store_true", help="process what is in the stream, then exit")
    sub.add_parser("demo", parents=[common], help="run the pipeline once on a bundled sample feed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, load config, run; exit 2 with one clear line for bad config or usage."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level.upper())
    try:
        settings = load_settings(args.config, consumer_name=args.consumer)
        asyncio.run(dispatch(args, settings))
    except (ConfigError, UsageError) as exc:
        print(f"tripwire: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return 0


async def dispatch(args: argparse.Namespace, settings: Settings) -> None:
    """Run the chosen subcommand."""
    match args.command:
        case "run":
            await commands.run_all(settings)
        case "poller":
            await commands.run_poller(settings, once=args.once)
        case "classifier":
            await commands.run_classifier(settings, drain=args.drain)
        case "notifier":
            await commands.run_notifier(settings, drain=args.drain)
        case "demo":
            await demo.run_demo(settings)

"""Subcommands that run services: run, poller, classifier, notifier, demo."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.config import Settings

# Each handler imports its service when it runs: `tripwire --help` and the other commands load none of them.


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the service subcommands."""
    run = subparsers.add_parser("run", parents=[common], help="run poller, classifier and notifier in one process")
    run.set_defaults(handler=_run)
    poller = subparsers.add_parser("poller", parents=[common], help="run the poller")
    poller.add_argument("--once", action="store_true", help="poll every feed once and exit")
    poller.set_defaults(handler=_poller)
    for name, handler in (("classifier", _classifier), ("notifier", _notifier)):
        service = subparsers.add_parser(name, parents=[common], help=f"run the {name}")
        service.add_argument("--drain", action="store_true", help="process what is in the stream, then exit")
        service.set_defaults(handler=handler)
    sample = subparsers.add_parser("demo", parents=[common], help="run the pipeline once on a bundled sample feed")
    sample.add_argument(
        "--console", action="store_true", help="then serve the web console over the demo's data until Ctrl-C"
    )
    sample.set_defaults(handler=_demo)


async def _run(args: argparse.Namespace, settings: Settings) -> None:
    from tripwire import commands

    await commands.run_all(settings)


async def _poller(args: argparse.Namespace, settings: Settings) -> None:
    from tripwire import commands

    await commands.run_poller(settings, once=args.once)


async def _classifier(args: argparse.Namespace, settings: Settings) -> None:
    from tripwire import commands

    await commands.run_classifier(settings, drain=args.drain)


async def _notifier(args: argparse.Namespace, settings: Settings) -> None:
    from tripwire import commands

    await commands.run_notifier(settings, drain=args.drain)


async def _demo(args: argparse.Namespace, settings: Settings) -> None:
    from tripwire import demo
    from tripwire.runtime import stop_on_signals

    await demo.run_demo(settings, stop_on_signals() if args.console else None)

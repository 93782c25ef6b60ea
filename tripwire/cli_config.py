"""Subcommands about the configuration: config-reference."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.config import Settings


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``config-reference``."""
    reference = subparsers.add_parser(
        "config-reference", parents=[common], help="print the configuration reference (Markdown) from the config model"
    )
    reference.set_defaults(handler=_config_reference)


async def _config_reference(args: argparse.Namespace, settings: Settings) -> None:
    from tripwire.config_reference import generate_reference

    sys.stdout.write(generate_reference())

"""``tripwire feeds import FILE.opml [--write]`` and ``tripwire feeds export [FILE]``: OPML in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import UsageError

if TYPE_CHECKING:
    from shared.config import Settings


def register_opml(actions: Any, common: argparse.ArgumentParser) -> None:
    """Add ``import`` and ``export`` under ``feeds``."""
    imports = actions.add_parser(
        "import", parents=[common], help="print the feeds: YAML for an OPML file's feeds (--write adds them)"
    )
    imports.add_argument("file", metavar="FILE.opml", help="an OPML subscription list (e.g. exported by a reader)")
    imports.add_argument("--write", action="store_true", help="add the new feeds to the config file, keeping comments")
    imports.set_defaults(handler=_import)
    exports = actions.add_parser("export", parents=[common], help="write the configured feeds as OPML")
    exports.add_argument("file", metavar="FILE", nargs="?", default="-", help="where to write (default: stdout)")
    exports.set_defaults(handler=_export)


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from tripwire.opml import OpmlError, add_to_config, feeds_yaml, read_opml

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the OPML file ({exc.strerror or exc})") from None
    try:
        result = read_opml(data, list(settings.config.feeds))
    except OpmlError as exc:
        raise UsageError(f"{path}: {exc}") from None
    for url, why in result.skipped:
        print(f"skipped {url}: {why}", file=sys.stderr)
    if not result.feeds:
        print(f"{path}: no new feeds ({len(result.skipped)} skipped)", file=sys.stderr)
        return 0
    if not args.write:
        print(feeds_yaml(result.feeds), end="")
        return 0
    try:
        add_to_config(settings.config_path, result.feeds)
    except (OpmlError, OSError) as exc:
        raise UsageError(f"{settings.config_path}: cannot add the feeds ({exc})") from None
    print(f"added {len(result.feeds)} feeds to {settings.config_path} ({len(result.skipped)} skipped)", file=sys.stderr)
    return 0


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from tripwire.opml import write_opml

    document = write_opml(list(settings.config.feeds))
    if args.file == "-":
        sys.stdout.write(document.decode("utf-8"))
    else:
        Path(args.file).write_bytes(document)
    return 0

"""``tripwire feeds import FILE.opml [--write]`` and ``tripwire feeds export [FILE]``: OPML in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import UsageError

if TYPE_CHECKING:
    from shared.config import FeedConfig, Settings


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


def read_opml_file(path: Path, settings: Settings | None = None) -> Any:
    """The ImportResult of an OPML file (feeds already in ``settings``' config skipped); UsageError when unusable."""
    from tripwire.opml import OpmlError, read_opml

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the OPML file ({exc.strerror or exc})") from None
    try:
        return read_opml(data, list(settings.config.feeds) if settings else None)
    except OpmlError as exc:
        raise UsageError(f"{path}: {exc}") from None


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from tripwire.feed_entries import ConfigWriteError, add_to_config, feeds_yaml

    path = Path(args.file)
    result = read_opml_file(path, settings)
    for name, why in result.refused:
        print(f"{path}: outline {name!r} {why}", file=sys.stderr)
    for url, why in result.skipped:
        print(f"skipped {url}: {why}", file=sys.stderr)
    if not result.feeds:
        print(f"{path}: no new feeds ({_counts(result)})", file=sys.stderr)
        return 0
    if not args.write:
        print(feeds_yaml(result.feeds), end="")
        return 0
    try:
        add_to_config(settings.config_path, result.feeds)
    except (ConfigWriteError, OSError) as exc:
        raise UsageError(f"{settings.config_path}: cannot add the feeds ({exc})") from None
    print(f"added {len(result.feeds)} feeds to {settings.config_path} ({_counts(result)})", file=sys.stderr)
    return 0


def _counts(result: Any) -> str:
    refused = f", {len(result.refused)} refused" if result.refused else ""
    return f"{len(result.skipped)} skipped{refused}"


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from tripwire.opml import write_opml

    document = write_opml(unexpanded_feeds(settings))
    if args.file == "-":
        sys.stdout.write(document.decode("utf-8"))
    else:
        try:
            Path(args.file).write_bytes(document)
        except OSError as exc:
            raise UsageError(f"{args.file}: cannot write the OPML file ({exc.strerror or exc})") from None
    return 0


def unexpanded_feeds(settings: Settings) -> list[FeedConfig]:
    """The configured feeds, with any URL or name that uses ``${VAR}`` as the file writes it, not as expanded.

    A feed URL may carry a token from the environment (``https://wire.example/rss?key=${WIRE_KEY}``); an OPML file is
    made to be shared, so the export keeps the reference and never the secret. (Importing that file again refuses the
    outline, as it refuses any ``${``.)
    """
    import yaml

    feeds = list(settings.config.feeds)
    try:
        raw = yaml.safe_load(settings.config_path.read_text(encoding="utf-8")).get("feeds") or []
    except (OSError, yaml.YAMLError, AttributeError):
        return feeds  # the file changed since it was loaded: nothing to compare with
    if not isinstance(raw, list) or len(raw) != len(feeds):
        return feeds
    kept = []
    for feed, written in zip(feeds, raw, strict=True):
        update = {}
        for field in ("url", "name"):
            value = written.get(field) if isinstance(written, dict) else None
            if isinstance(value, str) and "${" in value:
                update[field] = value
                print(f"{feed_label(written)}: {field} uses ${{...}}: exported as written, unexpanded", file=sys.stderr)
        kept.append(feed.model_copy(update=update) if update else feed)
    return kept


def feed_label(written: dict[str, Any]) -> str:
    """A feed's name for a message, without its (possibly secret-bearing) URL."""
    name = written.get("name")
    return f"feed {name!r}" if isinstance(name, str) and "${" not in name else "a feed"

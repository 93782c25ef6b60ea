"""``tripwire feeds add URL`` (find a site's feeds, add one) and ``tripwire feeds check`` (what each feed answers)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import FeedConfig, Settings
from tripwire.runtime import UsageError

if TYPE_CHECKING:
    from tripwire.feed_discovery import FeedCheck


def register_sources(actions: Any, common: argparse.ArgumentParser) -> None:
    """Add ``add`` and ``check`` under ``feeds``."""
    add = actions.add_parser(
        "add", parents=[common], help="find a site's RSS/Atom feeds from its page and add one (--write)"
    )
    add.add_argument("url", metavar="URL", help="the site's page (or a feed's own address)")
    add.add_argument("--pick", type=int, metavar="N", help="the feed to add, by its number in the list")
    add.add_argument("--name", help="the feed's name (default: its own title)")
    add.add_argument("--label", action="append", default=[], help="a label for the feed (repeatable)")
    add.add_argument("--write", action="store_true", help="add the feed to the config file, keeping comments")
    add.set_defaults(handler=_add)
    check = actions.add_parser(
        "check", parents=[common], help="fetch each configured feed (or an OPML file's) once and say what it answers"
    )
    check.add_argument("file", metavar="FILE.opml", nargs="?", help="check this OPML file's feeds instead")
    check.set_defaults(handler=_check)


def _http(settings: Settings) -> Any:
    from shared.http import make_http_client

    poller = settings.config.poller
    return make_http_client(settings.config.network, timeout=poller.timeout, user_agent=poller.user_agent)


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    from tripwire.feed_discovery import discover_feeds
    from tripwire.feed_entries import ConfigWriteError, add_to_config, feeds_yaml
    from tripwire.opml import display_text, feed_key, label_slug

    try:
        FeedConfig(url=args.url)
    except ValueError:
        raise UsageError(f"{args.url}: not an http:// or https:// address") from None
    async with _http(settings) as http:
        found = await discover_feeds(http, args.url, settings.config.poller, datetime.now(UTC))
    feeds = [check for check in found if check.ok]
    print(render_checks(found, numbered=True), file=sys.stderr)
    if not feeds:
        raise UsageError(f"{args.url}: no RSS or Atom feed found (looked for <link rel=alternate> and common paths)")
    if args.pick is None and len(feeds) > 1:
        raise UsageError(f"{len(feeds)} feeds found; choose one with --pick N (1 to {len(feeds)})")
    pick = args.pick or 1
    if not 1 <= pick <= len(feeds):
        raise UsageError(f"--pick {pick}: choose a number from 1 to {len(feeds)}")
    chosen = feeds[pick - 1]
    labels = list(dict.fromkeys(slug for label in args.label if (slug := label_slug(label))))
    feed = FeedConfig(
        url=chosen.url, name=display_text(args.name or chosen.title or "") or None, labels=labels,
        language=chosen.language,
    )  # fmt: skip
    if feed_key(feed.url) in {feed_key(known.url) for known in settings.config.feeds}:
        print(f"{feed.url} is already in {settings.config_path}", file=sys.stderr)
        return 0
    try:
        if not args.write:
            print(feeds_yaml([feed]), end="")
            return 0
        add_to_config(settings.config_path, [feed])
    except (ConfigWriteError, OSError) as exc:
        raise UsageError(f"{settings.config_path}: cannot add the feed ({exc})") from None
    print(f"added {feed.url} to {settings.config_path}", file=sys.stderr)
    return 0


async def _check(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from services.poller.fetch import Fetcher
    from tripwire.cli_opml import read_opml_file
    from tripwire.feed_discovery import check_feed

    if args.file:
        result = read_opml_file(Path(args.file))
        for name, why in result.refused:
            print(f"{args.file}: outline {name!r} {why}", file=sys.stderr)
        feeds = result.feeds
    else:
        feeds = list(settings.config.feeds)
    if not feeds:
        raise UsageError(f"{args.file or settings.config_path}: no feeds to check")
    now = datetime.now(UTC)
    async with _http(settings) as http:
        fetcher = Fetcher(http, settings.config.poller)  # the poller's limits: concurrency, per host, deadline, cap
        checks = await asyncio.gather(*(check_feed(fetcher, feed.url, now) for feed in feeds))
    print(render_checks(list(checks), names=[feed.name for feed in feeds]))
    failed = sum(not check.ok for check in checks)
    print(f"{len(checks) - failed} of {len(checks)} feeds answered with a feed", file=sys.stderr)
    return 1 if failed else 0


def render_checks(checks: list[FeedCheck], *, numbered: bool = False, names: list[str | None] | None = None) -> str:
    """Two lines per feed: status, items, language and name, then the URL; a failure says what to do on a third.

    ``numbered``: working feeds are numbered from 1 (what ``feeds add --pick N`` takes); the URL line says how the
    feed was found (link, path, url).
    """
    lines = []
    number = 0
    for n, check in enumerate(checks):
        name = (names[n] if names else None) or check.title or "-"
        if check.title and name != check.title:
            name += f"  (feed title: {check.title})"
        head = "    "
        if check.ok:
            number += 1
            head = f"{number:>2}. " if numbered else ""
            language = check.language or (f"{check.detected_language} (detected)" if check.detected_language else "-")
            lines.append(f"{head}ok      {check.items:>4} items  {language:<14} {name}")
        else:
            head = "    " if numbered else ""
            lines.append(f"{head}FAILED  {check.reason}: {check.error}")
        indent = " " * (len(head) + 8)
        lines.append(f"{indent}{check.url}" + (f"  (found by {check.found_by})" if numbered else ""))
        if not check.ok:
            lines.append(f"{indent}what to do: {check.advice or 'open the URL in a browser to see what it answers'}")
    return "\n".join(lines)

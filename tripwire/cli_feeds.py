"""``tripwire feeds [--json]``: each configured feed's state from Redis (last success, errors, next poll, items)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tripwire.cli_feed_sources import register_sources
from tripwire.cli_opml import register_opml

if TYPE_CHECKING:
    from services.poller.state import FeedState
    from services.poller.websub import SubscriptionStore
    from shared.config import FeedConfig, Settings

COLUMNS = ("feed", "status", "last success", "failures", "next poll", "items", "push", "last error")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``feeds`` subcommand."""
    feeds = subparsers.add_parser("feeds", parents=[common], help="show each feed's poll state")
    feeds.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    feeds.set_defaults(handler=_feeds)
    actions = feeds.add_subparsers(dest="feeds_action", metavar="ACTION")
    register_opml(actions, common)
    register_sources(actions, common)


def feed_status(feed: FeedConfig, state: FeedState, now: datetime | None = None, stale_after: float = 0.0) -> str:
    """One word for the table (services/poller/feed_health.py: failing from the first failed poll, stale as soon
    as the feed has been quiet for its stale_after)."""
    from services.poller.feed_health import current_status

    quiet_for = feed.stale_after if feed.stale_after is not None else stale_after
    return current_status(state, enabled=feed.enabled, now=now, stale_after=quiet_for)


def feed_rows(
    feeds: list[FeedConfig],
    states: list[FeedState],
    pushes: list[dict[str, Any]] | None = None,
    *,
    now: datetime | None = None,
    stale_after: float = 0.0,
) -> list[dict[str, Any]]:
    """One JSON-ready record per configured feed, its status as of ``now`` (``stale_after``: poller.stale_after);
    ``push``: its WebSub subscription (status ``none`` without one)."""
    rows = []
    for n, (feed, state) in enumerate(zip(feeds, states, strict=True)):
        record = state.model_dump(mode="json", exclude={"etag", "last_modified", "publish_times"})
        push = pushes[n] if pushes is not None else {"status": "none"}
        status = feed_status(feed, state, now, stale_after)
        rows.append({"name": feed.name, "status": status, "push": push, **record})
    return rows


def status_cell(row: dict[str, Any]) -> str:
    """The status as the table shows it: a failing feed with its consecutive failures beside it."""
    failures = row["consecutive_failures"]
    return f"failing ({failures} in a row)" if row["status"] == "failing" and failures else str(row["status"])


async def push_states(store: SubscriptionStore, feeds: list[FeedConfig], now: datetime) -> list[dict[str, Any]]:
    """Each feed's WebSub state for the table: status (none, pending, live, expired, denied, failing), hub, lease end,
    pushes received; never the secret or the callback id."""
    states: list[dict[str, Any]] = []
    for feed in feeds:
        record = await store.by_feed(feed.url)
        if record is None:
            states.append({"status": "none"})
            continue
        counts = await store.push_counts(record)
        expires = record.expires_at.isoformat() if record.expires_at else None
        states.append({"status": record.status(now), "hub": record.hub, "expires_at": expires,
                       "last_error": record.last_error or record.denied, "pushes": int(counts.get("pushes", 0)),
                       "refused": int(counts.get("refused", 0)),
                       "last_push_at": counts.get("last_push_at")})  # fmt: skip
    return states


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table, widths fitted to the content."""
    lines = [list(COLUMNS)]
    for row in rows:
        lines.append([
            row["name"] or row["url"], status_cell(row), _short_time(row["last_success"]),
            str(row["consecutive_failures"]), _short_time(row["next_poll"]), str(row["items_published"]),
            row["push"]["status"],
            (row["last_error"] or "")[:80],
        ])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def _short_time(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%SZ")


async def _feeds(args: argparse.Namespace, settings: Settings) -> int:
    from services.poller.state import FeedStateStore
    from services.poller.websub import SubscriptionStore
    from shared.streams import StreamNames
    from tripwire.runtime import redis_connection

    feeds = list(settings.config.feeds)
    async with redis_connection(settings, allow_embedded=False, command="feeds") as redis:
        store = FeedStateStore(redis, StreamNames.of(settings.config.redis))
        states = await store.load_many([feed.url for feed in feeds])
        now = datetime.now(UTC)
        pushes = await push_states(SubscriptionStore(redis, store.names), feeds, now)
    rows = feed_rows(feeds, states, pushes, now=now, stale_after=settings.config.poller.stale_after)
    print(json.dumps({"feeds": rows}, indent=2) if args.json else render_table(rows))
    return 0

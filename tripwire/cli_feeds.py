"""``tripwire feeds [--json]``: each configured feed's state from Redis (last success, errors, next poll, items)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from services.poller.state import FeedState, FeedStateStore
from services.poller.websub import SubscriptionStore
from shared.config import FeedConfig, Settings
from shared.streams import StreamNames
from tripwire.cli_feed_sources import register_sources
from tripwire.cli_opml import register_opml
from tripwire.runtime import redis_connection

COLUMNS = ("feed", "status", "last success", "failures", "next poll", "items", "push", "last error")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``feeds`` subcommand."""
    feeds = subparsers.add_parser("feeds", parents=[common], help="show each feed's poll state (needs REDIS_URL)")
    feeds.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    feeds.set_defaults(handler=_feeds)
    actions = feeds.add_subparsers(dest="feeds_action", metavar="ACTION")
    register_opml(actions, common)
    register_sources(actions, common)


def feed_status(feed: FeedConfig, state: FeedState) -> str:
    """One word for the table: disabled, gone, failing, stale, error (below the alert threshold), waiting (items
    held back because the items stream is full of unread entries), ok, or new."""
    if not feed.enabled:
        return "disabled"
    if state.gone:
        return "gone"
    if state.health != "ok":
        return state.health
    if state.consecutive_failures:
        return "error"
    if state.items_waiting:
        return f"waiting ({state.items_waiting} items: stream full)"
    return "ok" if state.last_success else "new"


def feed_rows(
    feeds: list[FeedConfig], states: list[FeedState], pushes: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One JSON-ready record per configured feed; ``push``: its WebSub subscription (status ``none`` without one)."""
    rows = []
    for n, (feed, state) in enumerate(zip(feeds, states, strict=True)):
        record = state.model_dump(mode="json", exclude={"etag", "last_modified", "publish_times"})
        push = pushes[n] if pushes is not None else {"status": "none"}
        rows.append({"name": feed.name, "status": feed_status(feed, state), "push": push, **record})
    return rows


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
            row["name"] or row["url"], row["status"], _short_time(row["last_success"]),
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
    feeds = list(settings.config.feeds)
    async with redis_connection(settings, allow_embedded=False, command="feeds") as redis:
        store = FeedStateStore(redis, StreamNames.of(settings.config.redis))
        states = await store.load_many([feed.url for feed in feeds])
        pushes = await push_states(SubscriptionStore(redis, store.names), feeds, datetime.now(UTC))
    rows = feed_rows(feeds, states, pushes)
    print(json.dumps({"feeds": rows}, indent=2) if args.json else render_table(rows))
    return 0

"""Parsing fetched bytes with feedparser into Items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import feedparser

from services.poller.entries import entry_to_item
from services.poller.fetch import FetchedFeed
from shared.schemas import FeedRef, Item


class FeedParseError(Exception):
    """The body is not a feed (an HTML page, an empty body, unparseable XML with no entries)."""


@dataclass(frozen=True)
class ParsedFeed:
    """Items of one feed, and the parser's complaint if the feed was malformed but usable."""

    title: str | None
    items: list[Item]
    malformed: str | None = None


def parse_feed(fetched: FetchedFeed, fetched_at: datetime, name: str | None = None) -> ParsedFeed:
    """Parse a fetched body; malformed feeds keep what entries they have."""
    if not fetched.content.strip():
        raise FeedParseError("empty body where a feed was expected")
    parsed = feedparser.parse(fetched.content, response_headers=fetched.headers)
    title = name or parsed.feed.get("title") or None
    if not parsed.entries and (parsed.bozo or not parsed.version):
        reason = parsed.get("bozo_exception") or "no RSS or Atom document found"
        raise FeedParseError(f"not a feed: {reason}")
    ref = FeedRef(url=fetched.url, title=title)
    items = [item for entry in parsed.entries if (item := entry_to_item(entry, ref, fetched_at)) is not None]
    malformed = str(parsed.get("bozo_exception")) if parsed.bozo else None
    return ParsedFeed(title, items, malformed)

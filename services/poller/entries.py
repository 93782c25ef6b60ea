"""Turning feedparser entries into Items: stable ids, plain-text summaries, UTC dates."""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.language import item_language
from shared.schemas import FeedRef, Item
from shared.text import plain, strip_invisible

MAX_SUMMARY_CHARS = 2000
MAX_TITLE_CHARS = 500
MAX_FEED_TITLE_CHARS = 200
# Longer than any real article URL; a longer one is dropped rather than copied into every alert.
MAX_LINK_CHARS = 2048
_SPACE = re.compile(r"\s+")
_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|at_medium|at_campaign)$", re.IGNORECASE)


def plain_text(markup: str, limit: int) -> str:
    """Strip tags, decode entities, drop invisible characters, collapse whitespace, cap at ``limit`` characters."""
    text = plain(markup)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def canonical_link(link: str) -> str:
    """Scheme and host lowercased, fragment and tracking parameters dropped; an unparseable link as it is."""
    try:
        parts = urlsplit(link.strip())
    except ValueError:  # "http://[oops/": urlsplit refuses a bad IPv6 literal; one such entry must not fail the feed
        return link.strip()
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def safe_link(link: object) -> str | None:
    """An absolute http(s) link without whitespace or invisible characters, else None (javascript:, data:, relative)."""
    text = _SPACE.sub("", strip_invisible(str(link or "")))
    if len(text) > MAX_LINK_CHARS or not text.lower().startswith(("http://", "https://")):
        return None
    try:
        return text if urlsplit(text).hostname else None
    except ValueError:  # a bad IPv6 literal or port
        return None


def entry_id(entry: Any, feed_url: str) -> str:
    """Stable id: the guid/id (canonical if it is a URL), else the canonical link, else a hash of title and date.

    A guid that is not a URL ("12345") and the title fallback are only unique within their feed, so they are scoped
    to ``feed_url``: two feeds' item 12345 are two items. A URL stays global, so one article in two feeds is one item.
    """
    raw = str(entry.get("id") or entry.get("guid") or "").strip()
    if raw.lower().startswith(("http://", "https://")):
        # A permalink guid is the article URL: canonical, it matches the same article in another feed.
        basis = "link:" + canonical_link(raw)
    elif raw:
        basis = "guid:" + feed_url + "\x00" + raw
    elif entry.get("link"):
        basis = "link:" + canonical_link(str(entry["link"]))
    else:
        basis = "title:" + feed_url + "\x00" + str(entry.get("title", "")) + "|" + _date_text(entry)
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _date_text(entry: Any) -> str:
    """The raw published (else updated) date, as the id has always hashed it.

    Never ``entry.get("updated")``: feedparser answers a missing "updated" with "published" and a DeprecationWarning,
    which a feed can trigger for every entry; ``in`` checks the real keys without the mapping.
    """
    if "published" in entry:
        return str(entry["published"])
    return str(entry["updated"]) if "updated" in entry else ""


def entry_published(entry: Any) -> datetime | None:
    """The entry's published (else updated) time in UTC, or None."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry[key] if key in entry else None  # noqa: SIM401 - not .get(): see _date_text
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


def entry_to_item(
    entry: Any, feed: FeedRef, fetched_at: datetime, language: str | None = None, *, detect: bool = True
) -> Item | None:
    """An Item for one feed entry (``language``: the feed's declared one), or None without title and summary."""
    title = plain_text(str(entry.get("title", "")), MAX_TITLE_CHARS)
    summary = plain_text(str(entry.get("summary", "") or entry.get("description", "")), MAX_SUMMARY_CHARS)
    if not title and not summary:
        return None
    link = safe_link(entry.get("link"))
    published = entry_published(entry)
    return Item(
        id=entry_id(entry, feed.url),
        feed=feed,
        title=title or summary[:MAX_TITLE_CHARS],
        summary=summary,
        link=link,
        # An undated entry is dated when we first saw it, and says so: readers can tell the two apart.
        published=published or fetched_at,
        published_estimated=published is None,
        fetched_at=fetched_at,
        # The feed's declared language wins; otherwise detected offline (shared/language.py), None when unsure.
        language=item_language(language, title, summary, detect=detect),
    )

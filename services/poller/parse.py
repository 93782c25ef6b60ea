"""Parsing fetched bytes with feedparser into Items, with hostile XML defused first."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import feedparser

from services.poller.entries import MAX_FEED_TITLE_CHARS, entry_to_item, plain_text
from shared.errors import RemoteError
from shared.schemas import FeedRef, Item

# An internal DTD subset is where entity declarations live. feedparser keeps "safe" literal entities from it, and when
# expat refuses an entity bomb it falls back to its loose parser, which expands those entities itself: a 100 KB
# entity referenced 100,000 times would build 10 GB. Real feeds do not declare entities, so the subset is dropped.
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.DOTALL)
_DOCTYPE = re.compile(rb"<!DOCTYPE")
MAX_DETECTED_ENTRIES = 1000  # feeds with more entries leave language detection to the classifier
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
# feedparser asks xml.sax for libxml2's driver first; the failed import walks sys.path on every parse (a third of
# the poller's CPU in bench/poller). expat is what it falls back to anyway.
feedparser.api.PREFERRED_XML_PARSERS[:] = []
# Each piece is matched once at a known position: the old single regex with `(?:<!--.*?-->\s*)*` backtracked through
# every way of grouping a run of comments (2^n: 30 comments before a non-HTML byte took minutes).
_XML_DECLARATION = re.compile(rb"\s*<\?xml[^>]*>")
_HTML_ROOT = re.compile(rb"\s*<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s*")


class FeedParseError(RemoteError):
    """The body is not a feed (an HTML page, an empty body, unparseable XML with no entries)."""


@dataclass(frozen=True)
class ParsedFeed:
    """Items of one feed, and the parser's complaint if the feed was malformed but usable."""

    title: str | None
    items: list[Item]
    malformed: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    """The feed's own (rel, href) links: WebSub discovery reads rel=hub and rel=self from them."""


def looks_like_html(content: bytes) -> bool:
    """Whether the body starts (after an XML declaration and comments) with an HTML doctype or <html> root."""
    declaration = _XML_DECLARATION.match(content)
    pos = declaration.end() if declaration else 0
    while True:
        pos = _WHITESPACE.match(content, pos).end()  # type: ignore[union-attr]  # `\s*` always matches
        if not content.startswith(b"<!--", pos):
            return bool(_HTML_ROOT.match(content, pos))
        end = content.find(b"-->", pos + 4)
        if end == -1:
            return False
        pos = end + 3


def defuse_xml(content: bytes) -> bytes:
    """Drop the internal DTD subset (entity declarations) before the root element; refuse what remains of one."""
    first = _FIRST_ELEMENT.search(content)
    # Only the first DOCTYPE, and only one match attempt there: searching the whole body for the subset pattern retried
    # `.*?\]\s*>` from every "<!DOCTYPE [" to the end (quadratic: 220 KB of them took 24 s).
    doctype = _DOCTYPE.search(content, 0, first.start() if first else len(content))
    match = _INTERNAL_SUBSET.match(content, doctype.start()) if doctype else None
    if match and (first is None or match.start() < first.start()):
        content = content[: match.start()] + content[match.end() :]
        first = _FIRST_ELEMENT.search(content)
    prolog = content[: first.start()] if first else content
    if b"<!ENTITY" in prolog:
        raise FeedParseError("not a feed: it declares XML entities in a DOCTYPE we could not remove; refused as unsafe")
    return content


def parse_feed(
    content: bytes,
    headers: dict[str, str],
    feed_url: str,
    fetched_at: datetime,
    name: str | None = None,
    labels: list[str] | None = None,
    language: str | None = None,
) -> ParsedFeed:
    """Parse a fetched body (``language``: the feed's declared one); malformed feeds keep what entries they have."""
    if not content.strip():
        raise FeedParseError("empty body where a feed was expected")
    html_page = looks_like_html(content) or "html" in headers.get("content-type", "").split(";")[0].lower()
    # A BytesIO, never the bytes themselves: feedparser opens bytes as a local file name if such a file exists.
    try:
        parsed = feedparser.parse(
            io.BytesIO(defuse_xml(content)), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser is robust, not proven: one odd feed must not stop the others.
        raise FeedParseError(f"not a feed: the parser failed ({type(exc).__name__}: {exc})") from None
    if not parsed.entries and (html_page or parsed.bozo or not parsed.version):
        if html_page:
            raise FeedParseError("an HTML page where a feed was expected (is the URL the site instead of its feed?)")
        reason = parsed.get("bozo_exception") or "no RSS or Atom document found"
        raise FeedParseError(f"not a feed: {reason}")
    # The feed's own title is untrusted text copied into every item: plain and capped like entry titles.
    title = name or plain_text(str(parsed.feed.get("title") or ""), MAX_FEED_TITLE_CHARS) or None
    ref = FeedRef(url=feed_url, title=title, labels=list(labels or []))
    # Detection costs ~2 ms an entry: a feed of thousands (an archive dump, or hostile) would hold the poller for
    # seconds at every poll. Its items go out without a language, and the classifier detects the new ones.
    detect = len(parsed.entries) <= MAX_DETECTED_ENTRIES
    items = [
        item
        for entry in parsed.entries
        if (item := entry_to_item(entry, ref, fetched_at, language, detect=detect)) is not None
    ]
    malformed = str(parsed.get("bozo_exception")) if parsed.bozo else None
    return ParsedFeed(title, items, malformed, _feed_links(parsed.feed))


def _feed_links(feed: Any) -> tuple[tuple[str, str], ...]:
    # Atom <link> and RSS <atom:link> alike; feedparser lists them under the feed's "links".
    links = feed.get("links") or []
    return tuple((str(link.get("rel", "")), str(link.get("href", ""))) for link in links if link.get("href"))

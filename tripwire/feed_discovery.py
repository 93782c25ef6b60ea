"""Finding a site's feeds from its page, and checking what a feed answers; for ``tripwire feeds add`` and ``check``.

A site's page names its feeds in ``<link rel="alternate" type="application/rss+xml" href=...>``; when it names none
that works, the paths feed software serves by default are tried (WordPress ``/feed`` and ``/?feed=rss2``, Hugo
``/index.xml``, ...). Every request goes through the poller's own fetch path (services/poller/fetch.Fetcher): the
outbound guard of shared/http.make_http_client, redirects followed hop by hop through the guard, bodies read capped
after decompression, a deadline per fetch; and the whole discovery runs under one total deadline. Pages and feeds
come from strangers: their titles are plain, capped text, and nothing found here is written to a config file except
through tripwire/feed_entries.py, which refuses ``${``.

Both functions take the HTTP client as an argument, so the console can call them with its own.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from services.poller.fetch import FeedFetchError, FetchedFeed, Fetcher, Validators
from services.poller.parse import FeedParseError, looks_like_html, parse_feed
from shared.config import PollerSettings
from tripwire.opml import display_text, feed_key, feed_language

# The paths feed software serves by default, tried in this order when the page names no working feed.
COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/?feed=rss2", "/index.xml")
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
DISCOVERY_DEADLINE = 60.0  # seconds for the whole search: the page, its links and the common paths
MAX_LINKS = 20  # a page listing hundreds of "feeds" is not a page a user wants all of fetched
_HTML_CHUNK = 64 * 1024
_HTTP_STATUS = re.compile(r"HTTP (\d{3}) ")
_CODE = rb"([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)"
# RSS <language>ar</language> (or <dc:language>), Atom <feed xml:lang="ar">: the first one in the document's opening.
_DECLARED_LANGUAGE = re.compile(rb"<(?:\w+:)?language>\s*" + _CODE + rb"\s*<|xml:lang=[\"']" + _CODE + rb"[\"']")


@dataclass(frozen=True)
class FeedCheck:
    """What one feed URL answered: a feed (title, language, item count) or an error with what to do about it."""

    url: str
    found_by: str = "url"
    """``url`` (the address given), ``link`` (named by the page) or ``path`` (a common path)."""
    title: str | None = None
    language: str | None = None
    """The language the feed declares (``<language>``, ``xml:lang``), if any."""
    detected_language: str | None = None
    """The most common language detected in its items, when it declares none."""
    items: int = 0
    error: str | None = None
    reason: str | None = None
    """A short label of the failure: timeout, network, refused, http_404, not_a_feed, too_large, ..."""
    advice: str | None = None

    @property
    def ok(self) -> bool:
        """True when the URL answered with a feed."""
        return self.error is None


async def check_feed(fetcher: Fetcher, url: str, now: datetime, found_by: str = "url") -> FeedCheck:
    """Fetch ``url`` once through ``fetcher`` and describe the feed it answers, or why it does not."""
    try:
        fetched = await fetcher.fetch(url, Validators(), now)
    except FeedFetchError as exc:
        return _failed(url, found_by, str(exc), exc.reason)
    assert isinstance(fetched, FetchedFeed)  # noqa: S101 - no validators sent, so never 304
    return await describe_feed(fetched, now, found_by)


async def describe_feed(fetched: FetchedFeed, now: datetime, found_by: str = "url") -> FeedCheck:
    """Title, language and item count of a fetched body, or a not_a_feed failure."""
    try:
        # Parsing and language detection take milliseconds an item: in a thread, as the poller does, so a console
        # calling this keeps answering.
        parsed = await asyncio.to_thread(parse_feed, fetched.content, fetched.headers, fetched.url, now)
    except FeedParseError as exc:
        return _failed(fetched.url, found_by, str(exc), "not_a_feed")
    declared = _declared_language(fetched.content)
    detected = Counter(item.language for item in parsed.items if item.language).most_common(1)
    return FeedCheck(
        url=fetched.url,
        found_by=found_by,
        title=display_text(parsed.title or "") or None,
        language=declared,
        detected_language=None if declared or not detected else detected[0][0],
        items=len(parsed.items),
    )


async def discover_feeds(
    client: httpx.AsyncClient,
    url: str,
    settings: PollerSettings,
    now: datetime,
    deadline: float = DISCOVERY_DEADLINE,
) -> list[FeedCheck]:
    """The feeds a page (or a feed URL) leads to, each checked once; failures of the page's own links included.

    Common paths that do not answer with a feed are left out: they are guesses, and seven 404s are noise. When the
    page itself fails, or the deadline passes, the list ends with a failure saying so (what was checked in time is
    kept), so a caller always has something to show.
    """
    fetcher = Fetcher(client, settings)
    links: list[FeedCheck | None] = []
    guesses: list[FeedCheck | None] = []
    try:
        async with asyncio.timeout(deadline):
            try:
                page = await fetcher.fetch(url, Validators(), now)
            except FeedFetchError as exc:
                return [_failed(url, "url", str(exc), exc.reason)]
            assert isinstance(page, FetchedFeed)  # noqa: S101 - no validators sent, so never 304
            if not looks_like_html(page.content):
                itself = await describe_feed(page, now)
                if itself.ok:
                    return [itself]  # the address was a feed already
            named = page_feed_links(page.content, page.url)[:MAX_LINKS]
            links = [None] * len(named)
            await _check_into(links, fetcher, named, now, "link")
            if not any(check and check.ok for check in links):
                root = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}"
                guesses = [None] * len(COMMON_PATHS)
                await _check_into(guesses, fetcher, [root + path for path in COMMON_PATHS], now, "path")
    except TimeoutError:
        late = _failed(url, "url", f"the search took longer than its {deadline:g} s deadline", "timeout")
        return _unique([*(c for c in links if c), *(c for c in guesses if c and c.ok), late])
    return _unique([*(c for c in links if c), *(c for c in guesses if c and c.ok)])


async def _check_into(
    slots: list[FeedCheck | None], fetcher: Fetcher, urls: list[str], now: datetime, found_by: str
) -> None:
    # Each answer lands in its slot as it comes, so a deadline keeps the ones already in, in the page's order. The
    # Fetcher bounds concurrency per host (poller.per_host_concurrency): a site gets at most that many at once.
    async def one(index: int, url: str) -> None:
        slots[index] = await check_feed(fetcher, url, now, found_by)

    await asyncio.gather(*(one(index, url) for index, url in enumerate(urls)))


def _unique(results: list[FeedCheck]) -> list[FeedCheck]:
    # /feed and /feed/ (after a redirect) are one feed.
    seen: set[str] = set()
    unique = []
    for result in results:
        key = feed_key(result.url)
        if key not in seen:
            seen.add(key)
            unique.append(result)
    return unique


class _FeedLinks(HTMLParser):
    """Collects ``<link rel=alternate>`` feed hrefs and ``<base href>`` from a page's head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_body:
            return  # a feed link belongs in <head>; one in the article body is content, not the site's feed
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "body":
            self.in_body = True
        elif tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"].strip()
        elif tag == "link":
            rel = values.get("rel", "").lower().split()
            kind = values.get("type", "").split(";")[0].strip().lower()
            href = values.get("href", "").strip()
            if "alternate" in rel and kind in FEED_TYPES and href:
                self.hrefs.append(href)

    handle_startendtag = handle_starttag


def page_feed_links(content: bytes, page_url: str) -> list[str]:
    """The absolute http(s) URLs of the feeds a page names in its head, in page order, without repeats."""
    parser = _FeedLinks()
    text = content.decode("utf-8", errors="replace")
    # Feed links live in <head>: stop at <body> instead of parsing megabytes of article markup.
    for start in range(0, len(text), _HTML_CHUNK):
        parser.feed(text[start : start + _HTML_CHUNK])
        if parser.in_body:
            break
    base = urljoin(page_url, parser.base) if parser.base else page_url
    urls = []
    for href in parser.hrefs:
        absolute = urljoin(base, href)
        if urlsplit(absolute).scheme in ("http", "https") and absolute not in urls:
            urls.append(absolute)
    return urls


def _declared_language(content: bytes) -> str | None:
    match = _DECLARED_LANGUAGE.search(content[:16384])
    if not match:
        return None
    return feed_language((match.group(1) or match.group(2)).decode("ascii"))


# What a user can do about each failure, by FeedFetchError.reason (or its prefix for HTTP classes).
_ADVICE = {
    "refused": "the host resolves to a private or loopback address; if you mean it, add its network to "
    "network.allow_private",
    "network": "the host did not resolve or refused the connection: check the address, and that this machine can "
    "reach it (DNS, proxy, firewall)",
    "timeout": "no complete answer within poller.timeout: try again later, or raise poller.timeout for a slow site",
    "gone": "the site removed the feed (HTTP 410): remove it from the config",
    "http_404": "no feed at this address (moved or mistyped): find the current one with `tripwire feeds add SITE`",
    "http_401": "the feed needs a login, which Tripwire does not send: find a public feed of the site",
    "http_403": "the site refuses the request (often bot blocking); try later, or ask the site about poller.user_agent",
    "http_429": "the site asks for fewer requests: the poller will back off; nothing to do unless it persists",
    "http_4xx": "the site refused the request: check the URL in a browser",
    "http_5xx": "the site's server failed: try again later",
    "http_503": "the site is overloaded or down: try again later",
    "too_large": "the body is larger than poller.max_body_bytes: raise it only if you trust the site",
    "encoding": "the site sent a compression Tripwire does not read: report it to the site",
    "redirect": "too many redirects or one without a Location: open the URL in a browser to find where it leads",
    "not_a_feed": "the address answers with something else (a page?): find its feed with `tripwire feeds add URL`",
}


def _failed(url: str, found_by: str, message: str, reason: str) -> FeedCheck:
    if "OutboundRefused" in message:
        reason = "refused"
    elif status := _HTTP_STATUS.match(message):
        reason = f"http_{status.group(1)}"  # the poller's label is the class (http_4xx); advice needs the code
    advice = _ADVICE.get(reason) or _ADVICE.get(reason[:6] + "xx") or None
    return FeedCheck(url=url, found_by=found_by, error=message, reason=reason, advice=advice)

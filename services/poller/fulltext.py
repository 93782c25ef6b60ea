"""Full article text: for new items of a feed with ``fulltext: true``, or whose summary is shorter than
``poller.fulltext_below``, fetch the article page and put its opening paragraphs on the item (``Item.article_text``).

Politeness is the feed fetcher's own: the article goes through the same Fetcher (the outbound guard, redirects
re-checked hop by hop, the body cap, the total deadline, and the same per-host and overall concurrency limits, so
articles and feeds of one host share its slots). Only items not yet published are fetched (a re-poll of a feed fetches
nothing again), at most ``fulltext_max_per_poll`` per poll, and each result, failures included, is cached in Redis for
``fulltext_cache_ttl``, so replicas and restarts do not fetch an article twice. A failed fetch never holds an item
back: it is published with its summary, as without full text.

The main text is extracted with trafilatura (boilerplate, navigation, comments dropped) in a worker thread, on at most
MAX_ARTICLE_BYTES of the page.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Sequence
from concurrent.futures import Executor

import trafilatura
from redis.asyncio import Redis

from services.poller.fetch import FeedFetchError, FetchedFeed, Fetcher, Validators
from services.poller.seen import already_seen
from shared.clock import Clock
from shared.config import FeedConfig, PollerSettings
from shared.logging import get_logger
from shared.metrics import FEED_ERRORS
from shared.schemas import Item
from shared.streams import StreamNames
from shared.text import plain

MAX_ARTICLE_BYTES = 2 * 1024 * 1024  # a news article's HTML is far smaller; this bounds the extractor's work
log = get_logger(__name__)


def wants_fulltext(feed: FeedConfig, settings: PollerSettings, item: Item) -> bool:
    """True when ``item``'s article should be fetched: the feed says so, or (unset) its summary is short."""
    if not item.link or not item.link.lower().startswith(("http://", "https://")):
        return False
    if feed.fulltext is not None:
        return feed.fulltext
    return len(item.summary) < settings.fulltext_below


def extract_opening(page: bytes, url: str, title: str, limit: int) -> str:
    """The article's opening paragraphs as plain text, up to ``limit`` characters ("" when there is no main text)."""
    text = trafilatura.extract(
        page[:MAX_ARTICLE_BYTES], url=url, include_comments=False, include_tables=False, fast=True
    )  # fmt: skip
    if not text:
        return ""
    kept: list[str] = []
    size = 0
    headline = plain(title).casefold()
    for line in text.splitlines():
        paragraph = plain(line)
        if headline and paragraph.casefold().startswith(headline):
            paragraph = paragraph[len(headline) :].strip()  # the page's own headline repeats the item's title
        if not paragraph:
            continue
        if size and size + len(paragraph) > limit:
            break
        kept.append(paragraph[: limit - size])
        size += len(kept[-1]) + 1
    return "\n".join(kept)


class ArticleEnricher:
    """Adds ``article_text`` to the new items that want it."""

    def __init__(
        self, fetcher: Fetcher, redis: Redis, names: StreamNames, settings: PollerSettings, clock: Clock,
        workers: Executor | None = None,
    ) -> None:  # fmt: skip
        self.fetcher, self.redis, self.names, self.settings, self.clock = fetcher, redis, names, settings, clock
        self.workers = workers

    def _cache_key(self, url: str) -> str:
        return self.names.key("article", hashlib.sha256(url.encode()).hexdigest()[:32])

    async def enrich(self, feed: FeedConfig, items: Sequence[Item]) -> list[Item]:
        """``items`` with the article opening on each new one that wants it; the others as they were."""
        wanted = [item for item in items if wants_fulltext(feed, self.settings, item)]
        if not wanted:
            return list(items)
        fresh = await self._unpublished(wanted)
        chosen = fresh[: self.settings.fulltext_max_per_poll]
        if len(fresh) > len(chosen):
            log.info("fulltext_capped", url=feed.url, fetched=len(chosen), skipped=len(fresh) - len(chosen))
        texts = await self._texts(feed, chosen)
        return [item.model_copy(update={"article_text": texts[item.id]}) if texts.get(item.id) else item
                for item in items]  # fmt: skip

    async def _unpublished(self, items: list[Item]) -> list[Item]:
        # The publisher's seen buckets (services/poller/seen.py): an item published before gets no second fetch.
        ttl = max(1, int(self.settings.seen_ttl))
        now = self.clock.now().timestamp()
        seen = await already_seen(self.redis, self.names, [item.id for item in items], now=now, ttl=ttl)
        return [item for item, known in zip(items, seen, strict=True) if not known]

    async def _texts(self, feed: FeedConfig, items: list[Item]) -> dict[str, str]:
        if not items:
            return {}
        links = [item.link or "" for item in items]
        cached = await self.redis.mget([self._cache_key(link) for link in links])
        results: dict[str, str] = {}
        missing: list[Item] = []
        for item, hit in zip(items, cached, strict=True):
            if hit is None:
                missing.append(item)
            else:
                results[item.id] = hit.decode() if isinstance(hit, bytes) else str(hit)
        if not missing:
            return results
        # One total deadline for all of a poll's articles, waits for host slots included: each fetch has its own,
        # but 20 articles queued two at a time behind one slow host would otherwise hold the poll 10 deadlines long.
        tasks = [asyncio.ensure_future(self._fetch(feed, item)) for item in missing]
        _done, late = await asyncio.wait(tasks, timeout=self.settings.timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            log.warning("fulltext_deadline", url=feed.url, fetched=len(tasks) - len(late), unfinished=len(late),
                        seconds=self.settings.timeout)  # fmt: skip
        async with self.redis.pipeline(transaction=False) as pipe:
            for item, task in zip(missing, tasks, strict=True):
                if task in late:
                    continue  # not a failure of the article: published without it, but not remembered as empty
                text = task.result()
                # "" is cached too: an article that failed or has no main text is not fetched again soon.
                pipe.set(self._cache_key(item.link or ""), text, ex=int(self.settings.fulltext_cache_ttl))
                results[item.id] = text
            await pipe.execute()
        return results

    async def _fetch(self, feed: FeedConfig, item: Item) -> str:
        url = item.link or ""
        try:
            outcome = await self.fetcher.fetch(url, Validators(None, None), self.clock.now())
        except FeedFetchError as exc:
            FEED_ERRORS.labels(feed=feed.url, reason=f"article_{exc.reason}").inc()
            log.warning("article_fetch_failed", url=feed.url, item_id=item.id, error=str(exc), reason=exc.reason)
            return ""
        if not isinstance(outcome, FetchedFeed):
            return ""
        limit = self.settings.fulltext_chars
        try:
            extract = functools.partial(extract_opening, outcome.content, outcome.url, item.title, limit)
            return await asyncio.get_running_loop().run_in_executor(self.workers, extract)
        except Exception as exc:  # an extractor bug on one strange page must not stop the feed's items
            log.warning("article_extract_failed", url=feed.url, item_id=item.id, error=type(exc).__name__)
            return ""

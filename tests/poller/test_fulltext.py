"""Full article text: a feed of one-line summaries gets each new item's article opening, fetched once, politely; a
failed article never holds an item back; the classifier says where the matching sentence came from."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.classifier.sentence_source import sentence_source
from services.poller.fulltext import extract_opening
from services.poller.websub import Subscription
from shared.config import TripwireConfig
from shared.schemas import FeedRef, Item
from tests.helpers import config_with, rss
from tests.poller.support import START, published_items, running_poller
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, article_page

LEDE = "US and Russian military convoys blocked each other on the M4 road near Qamishli on Tuesday, residents said."
MORE = ["The standoff lasted about an hour before both sides withdrew.", "Neither side commented."]


def site(feed: bytes) -> Any:
    """The feed at /feed.xml, articles at /a/N, /missing is 404."""

    def respond(request: ReceivedRequest) -> Reply:
        if request.path == "/feed.xml":
            return Reply(200, feed, {"Content-Type": "application/rss+xml"})
        if request.path.startswith("/a/"):
            title = f"Convoys face off {request.path.rsplit('/', 1)[-1]}"
            return Reply(200, article_page(title, [LEDE, *MORE]), {"Content-Type": "text/html"})
        return Reply(404, b"not found")

    return respond


def feed_of(server_url: str, links: list[str], summary: str = "Read more.") -> bytes:
    """An RSS feed whose items carry only a one-line summary."""
    items = [{"title": f"Convoys face off {link.rsplit('/', 1)[-1]}", "description": summary,
              "link": f"{server_url}{link}", "guid": f"g{n}"} for n, link in enumerate(links)]  # fmt: skip
    return rss(items)


def config(base: TripwireConfig, url: str, **feed: Any) -> TripwireConfig:
    """One feed at ``url`` with these feed options."""
    return config_with(base, feeds=[{"url": url, **feed}], poller={"jitter": 0})


async def test_one_line_summaries_get_the_article_opening_once(redis: Redis, default_config: TripwireConfig):
    with LocalServer(lambda _r: Reply(404)) as server:
        server.responder = site(feed_of(server.url, ["/a/1", "/a/2"]))
        cfg = config(default_config, f"{server.url}/feed.xml")
        async with running_poller(cfg, redis) as poller:
            await poller.poll_all()
            await poller.poll_all()  # the same items again: already published, so no article is fetched
        articles = [r for r in server.requests if r.path.startswith("/a/")]
    items = await published_items(redis, cfg)
    assert len(items) == 2 and len(articles) == 2  # the second poll fetched no article again
    for item in items:
        assert item.article_text is not None and LEDE in item.article_text
        assert "Cookie policy" not in item.article_text and "Related story" not in item.article_text
        assert item.title not in item.article_text  # the page's headline is the title, not repeated
        assert item.text.startswith(f"{item.title}. ") and LEDE in item.text  # what the classifier scores


async def test_long_summaries_and_fulltext_false_fetch_nothing(redis: Redis, default_config: TripwireConfig):
    long_summary = "A summary long enough to score on its own, about the standoff near Qamishli and Derik. " * 2
    with LocalServer(lambda _r: Reply(404)) as server:
        server.responder = site(feed_of(server.url, ["/a/1"], long_summary))
        async with running_poller(config(default_config, f"{server.url}/feed.xml"), redis) as poller:
            await poller.poll_all()
        assert not [r for r in server.requests if r.path.startswith("/a/")]
    with LocalServer(lambda _r: Reply(404)) as server:
        server.responder = site(feed_of(server.url, ["/a/1"]))
        async with running_poller(config(default_config, f"{server.url}/feed.xml", fulltext=False), redis) as poller:
            await poller.poll_all()
        assert not [r for r in server.requests if r.path.startswith("/a/")]


async def test_fulltext_true_fetches_even_long_summaries_up_to_the_cap(redis: Redis, default_config: TripwireConfig):
    long_summary = "A summary long enough to score on its own, about the standoff near Qamishli and Derik. " * 2
    with LocalServer(lambda _r: Reply(404)) as server:
        server.responder = site(feed_of(server.url, [f"/a/{n}" for n in range(5)], long_summary))
        cfg = config_with(default_config, feeds=[{"url": f"{server.url}/feed.xml", "fulltext": True}],
                          poller={"jitter": 0, "fulltext_max_per_poll": 3})  # fmt: skip
        async with running_poller(cfg, redis) as poller:
            await poller.poll_all()
        assert len([r for r in server.requests if r.path.startswith("/a/")]) == 3
    items = await published_items(redis, cfg)
    assert len(items) == 5 and sum(1 for item in items if item.article_text) == 3  # the rest published without


async def test_a_missing_article_never_holds_an_item_back(redis: Redis, default_config: TripwireConfig):
    with LocalServer(lambda _r: Reply(404)) as server:
        server.responder = site(feed_of(server.url, ["/missing"]))
        cfg = config(default_config, f"{server.url}/feed.xml")
        async with running_poller(cfg, redis) as poller:
            [result] = await poller.poll_all()
    assert result.error is None
    [item] = await published_items(redis, cfg)
    assert item.article_text is None and item.summary == "Read more."


def test_the_extractor_keeps_the_opening_within_the_limit():
    page = article_page("Headline", [LEDE, *MORE] * 20)
    opening = extract_opening(page, "https://news.example/a", "Headline", 300)
    assert LEDE in opening and len(opening) <= 300
    assert extract_opening(b"<html><body></body></html>", "https://x.example", "t", 300) == ""


def test_the_alert_says_where_the_matching_sentence_came_from():
    item = Item(id="i", feed=FeedRef(url="https://n.example/rss"), title="Convoys face off", summary="Read more.",
                article_text=LEDE, fetched_at=START)  # fmt: skip
    assert sentence_source(item, LEDE) == "article"
    assert sentence_source(item, "Convoys face off") == "title"
    assert sentence_source(item, "Read more.") == "summary"
    assert sentence_source(item, None) is None


async def test_the_already_published_check_reads_the_seen_buckets(redis: Redis, default_config: TripwireConfig):
    # Issue 26, item 8: the check looked for per-item seen:<id> keys the publisher no longer writes, so 30 published
    # items counted as new again, took the 20-per-poll cap, and the one new item got no article.
    old = [f"/a/{n}" for n in range(30)]
    with LocalServer(lambda _r: Reply(404)) as server:
        server.responder = site(feed_of(server.url, old))
        cfg = config_with(default_config, feeds=[{"url": f"{server.url}/feed.xml"}],
                          poller={"jitter": 0, "fulltext_max_per_poll": 20})  # fmt: skip
        async with running_poller(cfg, redis) as poller:
            await poller.poll_all()
            await redis.delete(*[key async for key in redis.scan_iter("*article*")])  # the cache expired
            server.responder = site(feed_of(server.url, [*old, "/a/new"]))
            await poller.poll_all()
        fetched = [r.path for r in server.requests if r.path.startswith("/a/")]
    assert len(fetched) == 21 and fetched[-1] == "/a/new"  # 20 on the first poll, then only the new one
    new = [item for item in await published_items(redis, cfg) if item.link and item.link.endswith("/a/new")]
    assert len(new) == 1 and new[0].article_text and LEDE in new[0].article_text


async def test_pushed_items_get_the_article_like_polled_ones(redis: Redis, default_config: TripwireConfig):
    # Issue 26, item 9: ingest_pushed published without the full-text step, and the later poll found them seen.
    with LocalServer(lambda _r: Reply(404)) as server:
        url = f"{server.url}/feed.xml"
        server.responder = site(feed_of(server.url, []))
        async with running_poller(config(default_config, url), redis) as poller:
            record = Subscription(id="x" * 22, feed_url=url, hub=f"{server.url}/hub", topic=url)
            published = await poller.ingest_pushed(record, feed_of(server.url, ["/a/7"]), "application/rss+xml")
    [item] = await published_items(redis, config(default_config, url))
    assert published == 1 and item.article_text is not None and LEDE in item.article_text

"""bench/fulltext: what fetching the article changes for feeds that carry one line per item: recall, false alarms,
and poller throughput, all measured in one run on 127.0.0.1.

The labeled sets (data/eval/topics.jsonl, and /work/shared/data/dev.jsonl when present) carry a title and the RSS
summary of each item. A local site serves each item as a news page (navigation, headline, byline, the summary as the
article's opening paragraphs, neutral filler paragraphs, related links, footer) and a feed that carries only the
title and a short summary cut to ``--cut`` characters (default 0: the title alone). Four ways of scoring, same scorer:

- rss:      title + the whole summary (the labeled set as it is: the ceiling of what an opening paragraph adds);
- short:    title + the summary cut to ``--cut`` characters (a one-line feed, no full text);
- fulltext: the same one-line feed, polled by the real Poller with full text on: the article fetched over HTTP,
            extracted by trafilatura, its opening scored with the title;
- per cut:  recall of title + summary cut to 40/80/120/160 characters, to place poller.fulltext_below.

Throughput: the same feed polled with full text off and on (items published per second), best of ROUNDS, and the
ratio. The pages hold each item's own summary as their lede, so the fulltext figures measure extraction through real
boilerplate and what the opening adds, not what a publisher's real lede would add beyond its RSS summary.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from redis.asyncio import Redis

from services.classifier.embedder import SentenceEmbedder
from services.classifier.evaluation import LabeledItem, load_labeled
from services.classifier.scoring import Scorer
from services.poller.service import Poller
from shared.config import TripwireConfig, load_config_file
from shared.http import make_http_client
from shared.logging import setup_logging
from shared.redis_server import RedisServer
from shared.schemas import FeedRef, Item
from shared.streams import DATA_FIELD, StreamNames
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, article_page

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT / "data" / "eval" / "topics.jsonl", Path("/work/shared/data/dev.jsonl")]
CUTS = [0, 40, 80, 120, 160]
ROUNDS = 3
# Neutral paragraphs every article carries after its lede: length and noise, no topic words.
FILLER = [
    "The report could not be independently verified, and officials did not respond to requests for comment.",
    "Reporting was contributed from the regional bureau. This story has been updated with additional details.",
    "Readers can follow live coverage on the website and sign up for the morning briefing newsletter.",
]
SECRETS = {
    "TRIPWIRE_CONSOLE_PASSWORD": "bench-console-password",
    "TRIPWIRE_CONSOLE_SECRET": "bench-session-key-0123456789",
}


def cut(text: str, limit: int) -> str:
    """The summary a one-line feed would carry: at most ``limit`` characters, on a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] if limit else ""


def site(labeled: list[LabeledItem], limit: int) -> Any:
    """A responder: /feed.xml (titles and cut summaries), /a/N (each item's article page)."""

    def respond(request: ReceivedRequest) -> Reply:
        if request.path == "/feed.xml":
            return Reply(
                200, _feed(labeled, limit, request.headers.get("host", "")), {"Content-Type": "application/rss+xml"}
            )
        if request.path.startswith("/a/"):
            item = labeled[int(request.path.rsplit("/", 1)[-1])]
            return Reply(200, article_page(item.title, [item.summary, *FILLER]), {"Content-Type": "text/html"})
        return Reply(404)

    return respond


def _feed(labeled: list[LabeledItem], limit: int, host: str) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>one-line feed</title>']
    for n, item in enumerate(labeled):
        parts.append(f"<item><title>{escape(item.title)}</title><description>{escape(cut(item.summary, limit))}"
                     f"</description><link>http://{host}/a/{n}</link><guid>item-{n}</guid></item>")  # fmt: skip
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def outcome(scorer: Scorer, labeled: list[LabeledItem], items: list[Item]) -> tuple[float, int, int, int]:
    """(recall on labeled topics, hits, positives, false alarms: alerts on a topic the item is not labeled with)."""
    hits = positives = false_alarms = 0
    for item, scores in zip(labeled, scorer.score_items(items), strict=True):
        matched = {score.topic for score in scores if score.matched}
        positives += len(item.labels)
        hits += len(matched & item.labels)
        false_alarms += len(matched - item.labels)
    return (hits / positives if positives else 0.0), hits, positives, false_alarms


def as_items(labeled: list[LabeledItem], limit: int | None) -> list[Item]:
    """Items of title + summary (cut to ``limit``; None keeps it whole)."""
    now = datetime.now(UTC)
    return [Item(id=f"i{n}", feed=FeedRef(url="http://bench.invalid/rss"), title=i.title,
                 summary=i.summary if limit is None else cut(i.summary, limit), fetched_at=now)
            for n, i in enumerate(labeled)]  # fmt: skip


def config_for(url: str, fulltext: bool) -> TripwireConfig:
    """The shipped config with one feed at ``url`` on loopback; full text on (every item) or off."""
    config = load_config_file(ROOT / "config" / "tripwire.yaml", SECRETS)
    data = config.model_dump(mode="python")
    data["feeds"] = [{"url": url, "fulltext": fulltext}]
    data["network"] = {"allow_private": ["127.0.0.0/8"]}
    data["poller"] = {**data["poller"], "jitter": 0, "fulltext_max_per_poll": 500}
    data["subscriptions"], data["console"] = [], {}
    return TripwireConfig.model_validate(data)


async def poll_once(redis: Redis, config: TripwireConfig) -> tuple[list[Item], float]:
    """One poll of the feed on a flushed Redis; the items published and the seconds it took."""
    await redis.flushdb()
    async with make_http_client(config.network, timeout=30, user_agent="bench") as http:
        poller = Poller(config, redis, http)
        started = time.perf_counter()
        [result] = await poller.poll_all()
        elapsed = time.perf_counter() - started
    assert result.error is None, result.error
    entries = await redis.xrange(StreamNames.of(config.redis).items)
    return [Item.from_json(fields[DATA_FIELD.encode()]) for _id, fields in entries or [] if fields], elapsed


async def _run(limit: int) -> None:
    config = load_config_file(ROOT / "config" / "tripwire.yaml", SECRETS)
    embedder = SentenceEmbedder(config.classifier.model_path, config.classifier.batch_size)
    scorer = Scorer(config.topics, embedder)
    with RedisServer(appendonly=False) as server:
        redis = Redis.from_url(server.url)
        try:
            for path in SETS:
                if path.exists():
                    await _one_set(path, limit, scorer, redis)
        finally:
            await redis.aclose()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine: compare ratios)")


async def _one_set(path: Path, limit: int, scorer: Scorer, redis: Redis) -> None:
    labeled = load_labeled(path)
    lengths = sorted(len(i.summary) for i in labeled)
    print(f"\n{path.name}: {len(labeled)} items, {sum(1 for i in labeled if i.labels)} labeled on-topic; summary "
          f"length median {lengths[len(lengths) // 2]}, shortest {lengths[0]} characters")  # fmt: skip
    with LocalServer(site(labeled, limit)) as web:
        url = f"{web.url}/feed.xml"
        best = {False: float("inf"), True: float("inf")}
        fetched: list[Item] = []
        for _round in range(ROUNDS):
            for fulltext in (False, True):
                items, elapsed = await poll_once(redis, config_for(url, fulltext))
                best[fulltext] = min(best[fulltext], elapsed)
                if fulltext:
                    fetched = items
    ordered = sorted(fetched, key=_article_number)  # back in labeled-set order
    rows = [("rss (title + whole summary)", as_items(labeled, None)),
            (f"short (title + summary cut to {limit})", as_items(labeled, limit)),
            ("fulltext (short feed + article opening)", ordered)]  # fmt: skip
    for name, items in rows:
        recall, hits, positives, false_alarms = outcome(scorer, labeled, items)
        print(f"  {name:42s} recall {recall:.3f} ({hits}/{positives}), false alarms {false_alarms}")
    with_text = sum(1 for item in ordered if item.article_text)
    print(f"  articles extracted: {with_text}/{len(ordered)}")
    cuts = "  ".join(f"{c}:{outcome(scorer, labeled, as_items(labeled, c))[0]:.3f}" for c in CUTS)
    print(f"  recall of title + summary cut to N characters   {cuts}")
    n = len(labeled)
    print(
        f"  poll of {n} items: full text off {n / best[False]:7.1f} items/s, on {n / best[True]:7.1f} items/s "
        f"(ratio on/off {best[False] / best[True]:.2f}, best of {ROUNDS})"
    )


def _article_number(item: Item) -> int:
    """The labeled item an item came from, by its article link /a/N."""
    return int((item.link or "/0").rsplit("/", 1)[-1])


def main(options: list[str] | None = None) -> None:
    """Run the benchmark; ``--cut N`` sets the one-line feed's summary length (default 0: title only)."""
    args = options or []
    limit = int(args[args.index("--cut") + 1]) if "--cut" in args else 0
    setup_logging("text", "ERROR")  # the poller's per-feed lines would drown the figures
    asyncio.run(_run(limit))

"""The script a user would write instead of Tripwire, for the end-to-end benchmark to compare against.

Poll each feed with a blocking GET and feedparser, match the topic's keywords, embed each item on its own
with ``model.encode``, compare with the topic's examples, and POST each alert with a blocking ``httpx.post``.
The same texts as the pipeline's are served as 8 RSS feeds from 127.0.0.1; the receiver is on 127.0.0.1 too.
"""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

import feedparser
import httpx
import numpy as np

from bench._e2e_worker import bench_config
from services.classifier.embedder import SentenceEmbedder
from tripwire.local_http import LocalServer, Reply, static_files

FEEDS = 8


def rss_feeds(texts: list[str]) -> dict[str, bytes]:
    """The texts as ``FEEDS`` RSS documents (title = the whole text; no summary), by path."""
    feeds: dict[str, bytes] = {}
    for feed in range(FEEDS):
        items = "".join(
            f"<item><title>{escape(text)}</title><link>http://127.0.0.1/{feed}/{n}</link>"
            f"<guid>naive-{feed}-{n}</guid></item>"
            for n, text in enumerate(texts[feed::FEEDS])
        )
        channel = f"<channel><title>f{feed}</title>{items}</channel>"
        feeds[f"/feed{feed}.xml"] = f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()
    return feeds


def naive_script(texts: list[str]) -> float:
    """Items per second through the naive script (model load excluded, as the script loads it once)."""
    config = bench_config("http://127.0.0.1/")
    # What a user calls: the same model with sentence-transformers' defaults, one text per call.
    model = SentenceEmbedder(config.classifier.model_path)._model
    topics = [
        (
            name,
            topic.threshold,
            model.encode(topic.examples, normalize_embeddings=True),
            [t.lower() for t in topic.keywords.any_ + [t for group in topic.keywords.all_ for t in group]],
        )
        for name, topic in config.topics.items()
    ]
    posted = 0
    with LocalServer(static_files(rss_feeds(texts))) as feeds, LocalServer(lambda _r: Reply(204)) as receiver:
        started = time.perf_counter()
        for feed in range(FEEDS):
            parsed = feedparser.parse(httpx.get(f"{feeds.url}/feed{feed}.xml").content)
            for entry in parsed.entries:
                text = entry.get("title", "")
                vector = model.encode([text], normalize_embeddings=True)[0]
                lowered = text.lower()
                for name, threshold, examples, terms in topics:
                    similarity = float(np.max(examples @ vector))
                    if any(term in lowered for term in terms) and similarity >= threshold:
                        alert = {"topic": name, "title": text, "link": entry.get("link"), "score": similarity}
                        httpx.post(f"{receiver.url}/hook", json=alert).raise_for_status()
                        posted += 1
        elapsed = time.perf_counter() - started
    print(f"naive script: {len(texts)} items, {posted} alerts posted in {elapsed:.1f} s")
    return len(texts) / elapsed

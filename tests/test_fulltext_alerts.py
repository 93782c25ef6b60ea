"""A feed with one-line summaries alerts on its full text: feed and article on 127.0.0.1 -> poller (full text) ->
classifier (the real model) -> notifier -> webhook, and the alert says the matching sentence is from the article."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from standardwebhooks import Webhook

from shared.config import TripwireConfig
from tests.helpers import config_with, pub_date, rss
from tests.test_end_to_end import SECRET, run_pipeline
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, article_page

pytestmark = [pytest.mark.model, pytest.mark.slow]
TITLE = "Overnight briefing from the north-east"
LEDE = (
    "US and Russian military convoys blocked each other on a road near Qamishli for an hour before both withdrew, "
    "local sources said."
)


@pytest.mark.parametrize("fulltext_below", [120, 0])
async def test_a_one_line_feed_alerts_on_its_article(
    redis: Redis, embedder: object, default_config: TripwireConfig, fulltext_below: int
):
    def site(request: ReceivedRequest) -> Reply:
        if request.path == "/feed.xml":
            item = {"title": TITLE, "description": "Read more.", "link": f"{feed.url}/a/1", "guid": "brief-1",
                    "pubDate": pub_date()}  # fmt: skip
            return Reply(200, rss([item]), {"Content-Type": "application/rss+xml"})
        return Reply(200, article_page(TITLE, [LEDE, "The incident was filmed by residents."]))

    feed = LocalServer(site).start()
    receiver = LocalServer(lambda _request: Reply(204)).start()
    try:
        config = config_with(
            default_config, feeds=[{"url": f"{feed.url}/feed.xml"}], poller={"fulltext_below": fulltext_below},
            subscriptions=[{"name": "analysts", "type": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET}],
        )  # fmt: skip
        await run_pipeline(config, redis, embedder)
    finally:
        feed.stop()
        receiver.stop()
    if not fulltext_below:
        assert receiver.requests == []  # the title and "Read more." alone match nothing
        return
    [request] = receiver.requests
    alert = Webhook(SECRET).verify(request.body, request.headers)["data"]
    assert alert["topic"] == "us_russia_standoff" and LEDE in alert["item"]["article_text"]
    assert LEDE.rstrip(".") in alert["reasons"]["best_sentence"]
    assert alert["reasons"]["best_sentence_source"] == "article"

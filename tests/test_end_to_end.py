"""Feed on 127.0.0.1 -> poller -> classifier -> notifier -> webhook receiver on 127.0.0.1, on a real Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis
from standardwebhooks import Webhook

from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from services.notifier.service import Notifier
from services.poller.service import Poller
from shared.config import TripwireConfig
from shared.http import make_http_client
from tests.helpers import config_with, pub_date, rss
from tripwire.local_http import LocalServer, Reply, static_files

pytestmark = [pytest.mark.model, pytest.mark.slow]
SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLWVuZC10by1lbmQ="

MATCHING = {
    "title": "US and Russian military convoys block each other near Qamishli",
    "description": "American and Russian armored vehicles faced off on a road in north-east Syria, then withdrew.",
    "link": "http://127.0.0.1/a/standoff",
    "guid": "e2e-standoff",
    "pubDate": pub_date(),
}
NOT_MATCHING = {
    "title": "Bakery wins regional prize for its sourdough bread",
    "description": "The judges praised the crust and the long fermentation.",
    "link": "http://127.0.0.1/a/bakery",
    "guid": "e2e-bakery",
    "pubDate": pub_date(),
}


async def run_pipeline(config: TripwireConfig, redis: Redis, embedder: object) -> None:
    """One poll, then classifier and notifier in drain mode."""
    async with make_http_client(config.network, timeout=10, user_agent="test") as http:
        await Poller(config, redis, http).poll_all()
        classifier = Classifier(config, redis, Scorer(config.topics, embedder), "c1")  # type: ignore[arg-type]
        await classifier.run(asyncio.Event(), drain=True)
        await Notifier(config, redis, http, "n1").run(asyncio.Event(), drain=True)


async def test_matching_item_becomes_one_signed_alert(redis: Redis, embedder: object, default_config: TripwireConfig):
    feed = LocalServer(static_files({"/feed.xml": rss([MATCHING, NOT_MATCHING])})).start()
    receiver = LocalServer(lambda _request: Reply(204)).start()
    try:
        config = config_with(
            default_config,
            feeds=[{"url": f"{feed.url}/feed.xml"}],
            subscriptions=[
                {"name": "analysts", "type": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET,
                 "topics": ["us_russia_standoff"]},
            ],
        )  # fmt: skip
        await run_pipeline(config, redis, embedder)
        # A second full pass (the same feed polled again, streams re-drained) must deliver nothing new.
        await run_pipeline(config, redis, embedder)
    finally:
        feed.stop()
        receiver.stop()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "alert"
    alert = payload["data"]
    assert alert["topic"] == "us_russia_standoff"
    assert alert["item"]["title"] == MATCHING["title"]
    assert alert["reasons"]["nearest_example"]
    assert alert["score"] >= alert["reasons"]["threshold"]
    assert json.loads(request.body)["v"] == 1
    assert await redis.xpending(config_with(default_config).redis.stream_prefix + "alerts", "notifier") == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip

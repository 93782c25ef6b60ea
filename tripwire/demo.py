"""``tripwire demo``: the whole pipeline once, on a bundled sample feed, a private Redis and a local receiver."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import tempfile
import threading
from importlib import resources
from pathlib import Path

from pydantic import SecretStr
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.notifier.service import Notifier
from services.poller.service import Poller
from shared.config import FeedConfig, NetworkSettings, Settings, SubscriptionConfig
from shared.redis_server import RedisServer
from tripwire.commands import build_classifier, notifier_http, poller_http
from tripwire.console.server import serve_console
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, static_files

SAMPLE_FEED = "sample_feed.xml"


def sample_feed_bytes() -> bytes:
    """The bundled sample feed: items written by the team, a few about the default topics."""
    return resources.files("tripwire.demo_data").joinpath(SAMPLE_FEED).read_bytes()


_PRINT_LOCK = threading.Lock()  # deliveries arrive on concurrent receiver threads; keep each line whole


def print_delivery(request: ReceivedRequest) -> None:
    """Print one delivered alert: topic, score and title."""
    doc = json.loads(request.body)
    alert = doc["data"]
    with _PRINT_LOCK:
        print(f"ALERT  {alert['topic']:<20} score={alert['score']:.2f}  {alert['item']['title']}", flush=True)


def demo_settings(settings: Settings, feed_url: str, receiver_url: str) -> Settings:
    """The user's topics with the sample feed, one signed webhook to the local receiver, loopback allowed."""
    subscription = SubscriptionConfig(
        name="demo-receiver", type="webhook", url=SecretStr(receiver_url),
        secret=SecretStr("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()), topics=[],
    )  # fmt: skip
    config = settings.config.model_copy(
        update={
            "feeds": [FeedConfig(url=feed_url, name="Tripwire sample feed")],
            "subscriptions": [subscription],
            "network": NetworkSettings(allow_private=["127.0.0.0/8"]),  # type: ignore[list-item]
            # The sample feed's article links lead nowhere: no full-text fetches (README, "Full article text").
            "poller": settings.config.poller.model_copy(update={"fulltext_below": 0}),
        }
    )
    return settings.model_copy(update={"config": config, "consumer_name": "demo"})


async def run_demo(settings: Settings, console_stop: asyncio.Event | None = None) -> None:
    """Poll the sample feed once, classify and notify until drained, printing each delivered alert; with
    ``console_stop``, then serve the console over the demo's Redis until that event is set."""
    feed = LocalServer(static_files({"/feed.xml": sample_feed_bytes()})).start()
    receiver = LocalServer(lambda _request: Reply(204), on_request=print_delivery).start()
    # A fresh Redis every run: a kept one would remember the sample items as seen and alert on nothing.
    with tempfile.TemporaryDirectory(prefix="tripwire-demo-") as tmp, RedisServer(Path(tmp)) as server:
        demo = demo_settings(settings, f"{feed.url}/feed.xml", f"{receiver.url}/hook")
        redis = Redis.from_url(server.url)
        try:
            print(f"Tripwire demo: sample feed at {feed.url}/feed.xml, Redis on port {server.port}", flush=True)
            async with poller_http(demo) as http:
                results = await Poller(demo.config, redis, http).poll_all()
            published = sum(result.published for result in results)
            print(f"Polled the sample feed: {published} new items. Loading the model and classifying...", flush=True)
            classifier = await asyncio.to_thread(build_classifier, demo, redis)
            await classifier.run(asyncio.Event(), drain=True)
            async with notifier_http(demo) as http:
                await Notifier(demo.config, redis, http, "demo").run(asyncio.Event(), drain=True)
            print(f"Done: {len(receiver.requests)} alerts delivered from {published} items.", flush=True)
            if console_stop is not None:
                await _serve_console(demo, redis, classifier.scorer.embedder, console_stop)
        finally:
            await redis.aclose()
            feed.stop()
            receiver.stop()


async def _serve_console(demo: Settings, redis: Redis, embedder: Embedder, stop: asyncio.Event) -> None:
    """The console over the demo's data (its Redis lives as long as this), sharing the loaded model."""
    console = demo.config.console
    print(f"Console: http://{console.host}:{console.port}/ (Ctrl-C stops it and the demo's Redis)", flush=True)
    await serve_console(demo.config, redis, lambda: embedder, stop)

"""Builders for notifier tests: a pinned clock, alerts, receivers on 127.0.0.1, configs."""

from __future__ import annotations

import random
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from services.notifier.service import Notifier
from shared.config import TripwireConfig
from shared.schemas import Alert, FeedHealthEvent, FeedRef, Item, Reasons
from shared.streams import StreamNames, publish
from tests.helpers import config_with
from tripwire.local_http import ReceivedRequest, Reply, Responder

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRET = "whsec_" + "c3VwZXItc2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ="
OTHER_SECRET = "whsec_" + "YW5vdGhlci1zZWNyZXQta2V5LWZvci10ZXN0cw=="
PREFIX = "tripwire:"


class FakeClock:
    """A clock the test moves by hand; it starts at the real time so receivers' signature checks accept it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        """The pinned time."""
        return self.current

    def monotonic(self) -> float:
        """Seconds, moving with ``now``."""
        return self.current.timestamp()

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += timedelta(seconds=seconds)


def make_alert(n: int = 1, *, topic: str = "us_russia_standoff", score: float = 0.8, **item: Any) -> Alert:
    """An alert with a recognisable title."""
    fields: dict[str, Any] = {
        "id": f"item-{n}",
        "feed": FeedRef(url="https://news.example/rss", title="Example News"),
        "title": f"Convoy standoff number {n}",
        "summary": "US and Russian convoys blocked each other near Qamishli.",
        "link": f"https://news.example/a/{n}",
        "published": T0,
        "fetched_at": T0,
    }
    fields.update(item)
    reasons = Reasons(score=score, threshold=0.55, keywords=["convoy"], nearest_example="A standoff near Derik.")
    return Alert(id=f"alert-{n}-{topic}", item=Item(**fields), topic=topic, score=score, reasons=reasons, created_at=T0)


def make_health_event(n: int = 1) -> FeedHealthEvent:
    """A feed health event."""
    return FeedHealthEvent(
        id=f"health-{n}", feed=FeedRef(url="https://news.example/rss", title="Example News"), status="failing",
        message="HTTP 503 three times in a row", consecutive_failures=3, created_at=T0,
    )  # fmt: skip


def sub(name: str, url: str, kind: str = "webhook", **extra: Any) -> dict[str, Any]:
    """A subscription config dict."""
    doc: dict[str, Any] = {"name": name, "type": kind, "url": url, **extra}
    if kind == "webhook" and "secret" not in doc:
        doc["secret"] = SECRET
    return doc


def notifier_config(base: TripwireConfig, subscriptions: list[dict[str, Any]], **notifier: Any) -> TripwireConfig:
    """The default config with these subscriptions, loopback allowed, a short retry schedule."""
    settings = {"retry_delays": [5, 30, 120], "retry_jitter": 0.0, "slack_burst": 100, **notifier}
    return config_with(base, subscriptions=subscriptions, notifier=settings)


def make_notifier(config: TripwireConfig, redis: Redis, http: httpx.AsyncClient, clock: FakeClock) -> Notifier:
    """A notifier on a pinned clock and a seeded random source."""
    return Notifier(config, redis, http, "n1", clock=clock, rng=random.Random(7))


async def publish_messages(redis: Redis, *messages: Alert | FeedHealthEvent) -> None:
    """Append to the alerts stream."""
    for message in messages:
        await publish(redis, StreamNames(PREFIX).alerts, message.to_json(), 100_000)


def sequence(*replies: Reply) -> Responder:
    """Answer with each reply in turn, then keep answering with the last one."""
    lock = threading.Lock()
    remaining = list(replies)

    def respond(_request: ReceivedRequest) -> Reply:
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return respond


def refused_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"

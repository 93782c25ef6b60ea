"""Helpers for poller tests: a clock tests move by hand, a poller factory, and readers of what was published."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from redis.asyncio import Redis

from services.poller.service import Poller
from shared.clock import Clock
from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.schemas import FeedHealthEvent, Item, parse_alerts_message
from shared.streams import DATA_FIELD, StreamNames
from tests.helpers import config_with, pub_date

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self._now, self._mono = now, 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def poller_config(base: TripwireConfig, urls: list[str], **poller: Any) -> TripwireConfig:
    """``base`` with these feeds and poller settings, loopback allowed."""
    # No article pages unless a test asks (tests/poller/test_fulltext.py): their links point at hosts that do not exist.
    settings = {"jitter": 0, "fulltext_below": 0, **poller}
    return config_with(base, feeds=[{"url": url} for url in urls], poller=settings)


@asynccontextmanager
async def running_poller(
    config: TripwireConfig,
    redis: Redis,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Poller]:
    """A Poller on a real client (through shared.http), closed afterwards."""
    async with make_http_client(
        config.network, timeout=config.poller.timeout, user_agent=config.poller.user_agent, transport=transport
    ) as http:
        yield Poller(config, redis, http, clock=clock or ManualClock())


async def published_items(redis: Redis, config: TripwireConfig) -> list[Item]:
    """Every item in the items stream, oldest first."""
    entries = await redis.xrange(StreamNames(config.redis.stream_prefix).items)
    return [Item.from_json(fields[DATA_FIELD.encode()]) for _id, fields in entries]


async def health_events(redis: Redis, config: TripwireConfig) -> list[FeedHealthEvent]:
    """Every feed_health event in the alerts stream."""
    entries = await redis.xrange(StreamNames(config.redis.stream_prefix).alerts)
    events = [parse_alerts_message(fields[DATA_FIELD.encode()]) for _id, fields in entries]
    return [event for event in events if isinstance(event, FeedHealthEvent)]


def story(n: int, **extra: str) -> dict[str, str]:
    """One RSS item."""
    return {"title": f"Story {n}", "description": f"<p>Body of story {n} &amp; more</p>", "guid": f"story-{n}",
            "pubDate": pub_date(), **extra}  # fmt: skip


class DripServer:
    """An HTTP server on 127.0.0.1 that promises a large body and sends one byte per ``pause`` until told to stop."""

    def __init__(self, pause: float = 0.05) -> None:
        self.stopping = threading.Event()
        self.pause = pause
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> DripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                try:
                    self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
                    self.wfile.flush()
                    while not owner.stopping.wait(owner.pause):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:
                    return  # The client gave up, as it should.

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

"""Per-feed state in Redis: validators, outcome of the last polls, schedule, health; survives restarts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from redis.asyncio import Redis

from shared.streams import StreamNames

FeedHealth = Literal["ok", "failing", "stale"]


class FeedState(BaseModel):
    """What the poller remembers about one feed (keyed by the URL in the config, even after it moved)."""

    model_config = ConfigDict(extra="ignore")

    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_success: AwareDatetime | None = None
    last_error: str | None = None
    last_error_at: AwareDatetime | None = None
    consecutive_failures: int = 0
    next_poll: AwareDatetime | None = None
    items_published: int = 0
    last_new_item: AwareDatetime | None = None
    health: FeedHealth = "ok"
    gone: bool = False
    moved_to: str | None = None
    # Adaptive polling (services/poller/adaptive.py): recent publication times (epoch seconds) and the interval
    # chosen after the last successful poll, shared by every replica.
    publish_times: list[float] = []
    poll_interval: float | None = None
    items_waiting: int = 0  # left unpublished by the last poll: the items stream was full (back-pressure)

    @property
    def fetch_url(self) -> str:
        """Where to fetch: the permanent redirect target if the feed moved."""
        return self.moved_to or self.url


def feed_key(names: StreamNames, url: str) -> str:
    """The Redis key of one feed's state (hashed: URLs can be long and hold any character)."""
    return names.key("feed", hashlib.sha256(url.encode()).hexdigest()[:32])


class FeedStateStore:
    """Loads and saves FeedStates as JSON strings."""

    def __init__(self, redis: Redis, names: StreamNames) -> None:
        self.redis, self.names = redis, names

    async def load(self, url: str) -> FeedState:
        """The feed's state, or a fresh one."""
        raw = await self.redis.get(feed_key(self.names, url))
        return FeedState.model_validate_json(raw) if raw else FeedState(url=url)

    async def load_many(self, urls: Sequence[str]) -> list[FeedState]:
        """States of several feeds in one round trip."""
        if not urls:
            return []
        raws = await self.redis.mget([feed_key(self.names, url) for url in urls])
        return [
            FeedState.model_validate_json(raw) if raw else FeedState(url=url)
            for url, raw in zip(urls, raws, strict=True)
        ]

    async def save(self, state: FeedState) -> None:
        """Write the state (no expiry: it is small and an operator reads it with ``tripwire feeds``)."""
        await self.redis.set(feed_key(self.names, state.url), state.model_dump_json())

"""Stories: alerts about one event from many outlets, kept in Redis so replicas and restarts agree.

An item that matched a topic either opens a story or joins one that alerted within the window:
the same link or the same title joins trivially; otherwise the item joins the story holding the item
most like it (cosine of the embeddings) when that similarity reaches the threshold.

Join-or-open is atomic across classifier replicas: each topic has a version key that every join or open
increments inside MULTI/EXEC; a replica WATCHes it before reading the candidates, so if another replica
opened or joined a story of the topic in between, EXEC fails and the decision is taken again on fresh state.
Two near-simultaneous items of one event therefore never open two stories. Re-scoring an item (a redelivered
stream entry) returns its first assignment: the item's own key remembers it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.exceptions import WatchError

from shared.config import StorySettings
from shared.logging import get_logger
from shared.schemas import Item
from shared.streams import StreamNames

log = get_logger(__name__)
Event = Literal["story.new", "story.update"]
Vector = npt.NDArray[np.float32]
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class StoryAssignment:
    """Where one (item, topic) went: its story, whether it opened it, and why it joined."""

    story_id: str
    event: Event
    sources: int
    title: str
    reason: Literal["new", "link", "title", "similar"]
    similarity: float | None = None

    def to_json(self) -> str:
        """Stored under the item's key so a re-scored item gets the same answer."""
        return json.dumps(self.__dict__)


@dataclass(frozen=True)
class StoryItem:
    """One item of a story, for listings."""

    item_id: str
    title: str
    link: str | None
    source: str
    score: float
    at: str
    reason: str
    similarity: float | None


@dataclass(frozen=True)
class StorySummary:
    """A story as ``tripwire stories`` lists it."""

    story_id: str
    topic: str
    title: str
    opened_at: str
    updated_at: str
    sources: int
    items: list[StoryItem]


def story_id_for(topic: str, item_id: str) -> str:
    """Stable id of the story an item opens: re-opening after a crash gives the same id."""
    return hashlib.sha256(f"story\x00{topic}\x00{item_id}".encode()).hexdigest()[:16]


def normalized_title(title: str) -> str:
    """A title compared across outlets: lower case, punctuation and spacing ignored."""
    return _NON_WORD.sub(" ", title.lower()).strip()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StoryStore:
    """Story state in Redis: join-or-open, and the listing of recent stories."""

    def __init__(self, redis: Redis, names: StreamNames, settings: StorySettings) -> None:
        self.redis, self.names, self.settings = redis, names, settings
        self.ttl = int(settings.window) + 1
        self.index = names.key("stories", "index")

    def _story(self, story_id: str, part: str = "") -> str:
        return self.names.key("story", story_id, part) if part else self.names.key("story", story_id)

    def _topic_key(self, kind: str, topic: str, *rest: str) -> str:
        return self.names.key("stories", kind, topic, *rest)

    async def assign(self, topic: str, item: Item, vector: Vector, score: float, now: datetime) -> StoryAssignment:
        """Join the item to a recent story of ``topic`` or open one, atomically across replicas."""
        version = self._topic_key("version", topic)
        item_key = self._topic_key("item", topic, item.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(version, item_key)
                    known = await pipe.get(item_key)
                    if known is not None:
                        return StoryAssignment(**json.loads(known))
                    assignment = await self._decide(topic, item, vector, now)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._write(pipe, topic, item, vector, score, now, assignment)
                    # In the same transaction: a crash cannot leave a joined item without its answer.
                    pipe.set(item_key, assignment.to_json(), ex=self.ttl)
                    await pipe.execute()
                    break
                except WatchError:
                    # Another replica opened or joined a story of this topic meanwhile: decide again.
                    log.debug("story_retry", topic=topic, item_id=item.id)
                    continue
        log.info(
            "story_" + assignment.reason, story_id=assignment.story_id, topic=topic, item_id=item.id,
            sources=assignment.sources,
        )  # fmt: skip
        return assignment

    async def _decide(self, topic: str, item: Item, vector: Vector, now: datetime) -> StoryAssignment:
        """Which story the item belongs to, from the current state (read after WATCH)."""
        keys = [self._topic_key("link", topic, _digest(item.link or "")) if item.link else None]
        keys.append(self._topic_key("title", topic, _digest(normalized_title(item.title))))
        for reason, key in zip(("link", "title"), keys, strict=True):
            if key is None:
                continue
            found = await self.redis.get(key)
            if found is not None and await self.redis.exists(self._story(_text(found))):
                return await self._joined(_text(found), item, reason, None)  # type: ignore[arg-type]
        best_id, best = await self._nearest(topic, vector, now)
        if best_id is not None and best >= self.settings.threshold:
            return await self._joined(best_id, item, "similar", best)
        return StoryAssignment(story_id_for(topic, item.id), "story.new", 1, item.title, "new")

    async def _joined(
        self, story_id: str, item: Item, reason: Literal["link", "title", "similar"], similarity: float | None
    ) -> StoryAssignment:
        title = await self.redis.hget(self._story(story_id), "title")
        feeds = self._story(story_id, "feeds")
        sources = int(await self.redis.scard(feeds)) + (0 if await self.redis.sismember(feeds, item.feed.url) else 1)
        return StoryAssignment(story_id, "story.update", sources, _text(title or b""), reason, similarity)

    async def _nearest(self, topic: str, vector: Vector, now: datetime) -> tuple[str | None, float]:
        """The recent story holding the item most like ``vector``, and that cosine similarity."""
        since = now.timestamp() - self.settings.window
        found = await self.redis.zrangebyscore(self._topic_key("recent", topic), since, "+inf")
        ids = [_text(i) for i in cast(list[bytes], found)]
        if not ids:
            return None, -1.0
        async with self.redis.pipeline(transaction=False) as reads:
            for story_id in ids:
                reads.lrange(self._story(story_id, "vectors"), 0, -1)
            stored = cast(list[list[bytes]], await reads.execute())
        best_id, best = None, -1.0
        for story_id, raw in zip(ids, stored, strict=True):
            if not raw:
                continue
            matrix = np.frombuffer(b"".join(raw), dtype=np.float32).reshape(len(raw), -1)
            if matrix.shape[1] != vector.shape[0]:
                continue  # written by another model: not comparable
            similarity = float(np.max(matrix @ vector))
            if similarity > best:
                best_id, best = story_id, similarity
        return best_id, best

    def _write(
        self, pipe: Any, topic: str, item: Item, vector: Vector, score: float, now: datetime, got: StoryAssignment
    ) -> None:
        """Queue the writes of one join or open in the transaction."""
        story, ttl, stamp = self._story(got.story_id), self.ttl, now.isoformat()
        if got.event == "story.new":
            fields = {"topic": topic, "title": item.title, "link": item.link or "", "opened_at": stamp}
            pipe.hset(story, mapping=fields)
        pipe.hset(story, "updated_at", stamp)
        entry = {
            "item_id": item.id, "title": item.title, "link": item.link, "source": item.feed.title or item.feed.url,
            "score": round(score, 4), "at": stamp, "reason": got.reason,
            "similarity": None if got.similarity is None else round(got.similarity, 4),
        }  # fmt: skip
        pipe.rpush(self._story(got.story_id, "items"), json.dumps(entry))
        pipe.ltrim(self._story(got.story_id, "items"), 0, self.settings.max_items - 1)
        pipe.rpush(self._story(got.story_id, "vectors"), np.asarray(vector, dtype=np.float32).tobytes())
        pipe.ltrim(self._story(got.story_id, "vectors"), 0, self.settings.max_items - 1)
        pipe.sadd(self._story(got.story_id, "feeds"), item.feed.url)
        for part in ("", "items", "vectors", "feeds"):
            pipe.expire(self._story(got.story_id, part), ttl)
        if item.link:
            pipe.set(self._topic_key("link", topic, _digest(item.link)), got.story_id, ex=ttl)
        pipe.set(self._topic_key("title", topic, _digest(normalized_title(item.title))), got.story_id, ex=ttl)
        recent = self._topic_key("recent", topic)
        pipe.zadd(recent, {got.story_id: now.timestamp()})
        pipe.zremrangebyscore(recent, "-inf", now.timestamp() - self.settings.window)
        pipe.expire(recent, ttl)
        pipe.zadd(self.index, {got.story_id: now.timestamp()})
        pipe.zremrangebyscore(self.index, "-inf", now.timestamp() - self.settings.window)
        pipe.incr(self._topic_key("version", topic))  # what concurrent deciders WATCH

    async def recent(self, limit: int = 20) -> list[StorySummary]:
        """The most recently updated stories still within the window, newest first."""
        ids = [_text(i) for i in cast(list[bytes], await self.redis.zrevrange(self.index, 0, limit - 1))]
        summaries = []
        for story_id in ids:
            fields = {_text(k): _text(v) for k, v in (await self.redis.hgetall(self._story(story_id))).items()}
            if not fields:
                continue
            raw = await self.redis.lrange(self._story(story_id, "items"), 0, -1)
            items = [StoryItem(**json.loads(entry)) for entry in raw]
            sources = int(await self.redis.scard(self._story(story_id, "feeds")))
            summaries.append(
                StorySummary(
                    story_id,
                    fields.get("topic", ""),
                    fields.get("title", ""),
                    fields.get("opened_at", ""),
                    fields.get("updated_at", ""),
                    sources,
                    items,
                )
            )
        return summaries

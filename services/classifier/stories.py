"""Stories: alerts about one event from many outlets, kept in Redis so replicas and restarts agree.

An item that matched a topic either opens a story or joins one that alerted within the window:
the same link or the same title joins trivially; otherwise the item joins the story holding the item
most like it (cosine of the embeddings) when that similarity reaches the threshold.

Join-or-open is atomic across classifier replicas: each topic has a version key that every join or open
increments inside MULTI/EXEC; a replica WATCHes it before reading the candidates, so if another replica
opened or joined a story of the topic in between, EXEC fails and the decision is taken again on fresh state.
Two near-simultaneous items of one event therefore never open two stories. Re-scoring an item (a redelivered
stream entry) returns its first assignment: the item's own key remembers it. Retries are bounded: after
``MAX_ATTEMPTS`` lost races ``StoryContention`` fails the batch, whose entry stays pending and is read again later
(and dead-lettered after ``streams.max_deliveries``), so a hot topic delays an item but never drops or loops on it.

Search reads a bounded amount per item: each story keeps the sum of its vectors (its centroid, one vector), the
candidates are ranked by centroid similarity, and only the ``CANDIDATES`` best have their item vectors read for the
exact answer (the best similarity to any one item, as before). Redis Cluster: a topic's keys share the hash tag
``{stories:<topic>}`` so its transaction stays in one slot while topics spread over the masters; the listing index
is then one per topic, found through a set of topic names.

Across languages (services/classifier/story_languages.py): items in another language than the story's are
compared in the multilingual model's space, and Kurdish reports by the places they name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.exceptions import WatchError

from services.classifier.embedder import Embedder
from services.classifier.story_languages import MULTILINGUAL_CANDIDATES, TEXT_CHARS, MultilingualStories, story_route
from shared.config import StorySettings
from shared.errors import TripwireError
from shared.logging import get_logger
from shared.schemas import Item
from shared.streams import StreamNames

log = get_logger(__name__)
Event = Literal["story.new", "story.update"]
Vector = npt.NDArray[np.float32]
_NON_WORD = re.compile(r"[\W_]+")
MAX_ATTEMPTS = 10  # lost WATCH races per item before the batch fails (and is retried from the stream)
CANDIDATES = 3  # stories whose item vectors are read, out of those ranked by centroid


class StoryContention(TripwireError):
    """Other replicas kept changing the topic's stories: the item is left for a later read of its entry."""


@dataclass(frozen=True)
class StoryAssignment:
    """Where one (item, topic) went: its story, whether it opened it, and why it joined."""

    story_id: str
    event: Event
    sources: int
    title: str
    reason: Literal["new", "link", "title", "similar", "places"]
    similarity: float | None = None

    def to_json(self) -> str:
        """Stored under the item's key so a re-scored item gets the same answer."""
        return json.dumps(self.__dict__)


@dataclass
class _Writes:
    """What a decision adds beyond the item itself: its multilingual vector and the story vectors it embedded."""

    mvector: bytes | None = None
    fresh: list[tuple[str, str, bytes]] = field(default_factory=list)


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

    def __init__(
        self, redis: Redis, names: StreamNames, settings: StorySettings, multilingual: Embedder | None = None
    ) -> None:
        self.redis, self.names, self.settings = redis, names, settings
        # Without a multilingual model every item is compared in the English space, as before languages counted.
        self.languages = MultilingualStories(redis, self._story, multilingual) if multilingual else None
        self.ttl = int(settings.window) + 1
        self.index = names.key("stories", "index")
        self.topics = names.key("stories", "topics")  # cluster mode: the topics that have a per-topic index

    def _story(self, topic: str, story_id: str, part: str = "") -> str:
        parts = ("story", story_id, part) if part else ("story", story_id)
        return self.names.tagged(f"stories:{topic}", *parts) if self.names.cluster else self.names.key(*parts)

    def _topic_key(self, kind: str, topic: str, *rest: str) -> str:
        if self.names.cluster:
            return self.names.tagged(f"stories:{topic}", kind, *rest)
        return self.names.key("stories", kind, topic, *rest)

    def _index(self, topic: str) -> str:
        return self._topic_key("index", topic) if self.names.cluster else self.index

    async def assign(
        self, topic: str, item: Item, vector: Vector, score: float, now: datetime, places: Sequence[str] = ()
    ) -> StoryAssignment:
        """Join the item to a recent story of ``topic`` or open one, atomically across replicas.

        ``vector`` is the item's English-model vector; ``places`` the names of the places it names (gazetteer).
        """
        version = self._topic_key("version", topic)
        item_key = self._topic_key("item", topic, item.id)
        if self.names.cluster:
            await self.redis.sadd(self.topics, topic)  # idempotent; lets the listing find the topic's index
        async with self.redis.pipeline(transaction=True) as pipe:
            for _attempt in range(MAX_ATTEMPTS):
                try:
                    await pipe.watch(version, item_key)
                    known = await pipe.get(item_key)
                    if known is not None:
                        return StoryAssignment(**json.loads(known))
                    assignment, writes = await self._decide(topic, item, vector, now, places)
                    centroid = await self._centroid_with(topic, assignment, vector)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._write(pipe, topic, item, vector, score, now, assignment)
                    self._write_languages(pipe, topic, item, assignment, writes, places, now)
                    pipe.set(self._story(topic, assignment.story_id, "centroid"), centroid, ex=self.ttl)
                    # In the same transaction: a crash cannot leave a joined item without its answer.
                    pipe.set(item_key, assignment.to_json(), ex=self.ttl)
                    await pipe.execute()
                    break
                except WatchError:
                    # Another replica opened or joined a story of this topic meanwhile: decide again.
                    log.debug("story_retry", topic=topic, item_id=item.id)
                    continue
            else:
                log.warning("story_contention", topic=topic, item_id=item.id, attempts=MAX_ATTEMPTS)
                raise StoryContention(f"topic {topic!r}: {MAX_ATTEMPTS} concurrent changes in a row; retried later")
        log.info(
            "story_" + assignment.reason, story_id=assignment.story_id, topic=topic, item_id=item.id,
            sources=assignment.sources,
        )  # fmt: skip
        return assignment

    async def _decide(
        self, topic: str, item: Item, vector: Vector, now: datetime, places: Sequence[str]
    ) -> tuple[StoryAssignment, _Writes]:
        """Which story the item belongs to, from the current state (read after WATCH)."""
        keys = [self._topic_key("link", topic, _digest(item.link or "")) if item.link else None]
        keys.append(self._topic_key("title", topic, _digest(normalized_title(item.title))))
        for reason, key in zip(("link", "title"), keys, strict=True):
            if key is None:
                continue
            found = await self.redis.get(key)
            if found is not None and await self.redis.exists(self._story(topic, _text(found))):
                return await self._joined(topic, _text(found), item, reason, None), _Writes()  # type: ignore[arg-type]
        route = story_route(item.language)
        writes = _Writes()
        if route != "multilingual" or self.languages is None:
            best_id, best = await self._nearest(topic, vector, now)
            if best_id is not None and best >= self.settings.threshold:
                return await self._joined(topic, best_id, item, "similar", best), writes
        if self.languages is not None and route != "places":
            # English: only stories holding another language's item; another language: every recent story.
            kind = "mixed" if route == "english" else "recent"
            candidates = (await self._window(topic, kind, now))[-MULTILINGUAL_CANDIDATES:]
            if candidates or route == "multilingual":
                mvector = (await self.languages.embed([item.text]))[0]
                writes.mvector = mvector.astype(np.float32).tobytes()
                best_id, best, writes.fresh = await self.languages.nearest(topic, candidates, mvector)
                if best_id is not None and best >= self.settings.multilingual_threshold:
                    return await self._joined(topic, best_id, item, "similar", best), writes
        if places and self.languages is not None:
            # Kurdish: any recent story naming a place it names; other languages: stories opened in Kurdish.
            kind = "recent" if route == "places" else "unshared"
            found_id = await self.languages.by_places(topic, await self._window(topic, kind, now), places)
            if found_id is not None:
                return await self._joined(topic, found_id, item, "places", None), writes
        return StoryAssignment(story_id_for(topic, item.id), "story.new", 1, item.title, "new"), writes

    async def _window(self, topic: str, kind: str, now: datetime) -> list[str]:
        """Story ids of one of the topic's time-ordered sets, oldest first, within the window."""
        since = now.timestamp() - self.settings.window
        return [
            _text(i)
            for i in cast(list[bytes], await self.redis.zrangebyscore(self._topic_key(kind, topic), since, "+inf"))
        ]

    async def _joined(
        self, topic: str, story_id: str, item: Item, reason: Literal["link", "title", "similar", "places"],
        similarity: float | None,
    ) -> StoryAssignment:  # fmt: skip
        title = await self.redis.hget(self._story(topic, story_id), "title")
        feeds = self._story(topic, story_id, "feeds")
        sources = int(await self.redis.scard(feeds)) + (0 if await self.redis.sismember(feeds, item.feed.url) else 1)
        return StoryAssignment(story_id, "story.update", sources, _text(title or b""), reason, similarity)

    async def _nearest(self, topic: str, vector: Vector, now: datetime) -> tuple[str | None, float]:
        """The recent story holding the item most like ``vector``, and that cosine similarity.

        Ranks the window's stories by their centroid, then reads the item vectors of the ``CANDIDATES`` best only
        (and of any story that has no centroid yet, written before centroids were kept).
        """
        since = now.timestamp() - self.settings.window
        found = await self.redis.zrangebyscore(self._topic_key("recent", topic), since, "+inf")
        ids = [_text(i) for i in cast(list[bytes], found)]
        if not ids:
            return None, -1.0
        async with self.redis.pipeline(transaction=False) as reads:
            for story_id in ids:
                reads.get(self._story(topic, story_id, "centroid"))
            centroids = cast(list[bytes | None], await reads.execute())
        ranked: list[tuple[float, str]] = []
        unranked: list[str] = []
        for story_id, raw in zip(ids, centroids, strict=True):
            total = np.frombuffer(raw, dtype=np.float32) if raw else None
            if total is None or total.shape != vector.shape:
                unranked.append(story_id)
                continue
            norm = float(np.linalg.norm(total))
            ranked.append((float(total @ vector) / norm if norm else -1.0, story_id))
        ranked.sort(reverse=True)
        candidates = [story_id for _, story_id in ranked[:CANDIDATES]] + unranked
        return await self._best_item_match(topic, candidates, vector)

    async def _best_item_match(self, topic: str, ids: list[str], vector: Vector) -> tuple[str | None, float]:
        """Among ``ids``, the story with the item most like ``vector`` (max cosine over its stored vectors)."""
        async with self.redis.pipeline(transaction=False) as reads:
            for story_id in ids:
                reads.lrange(self._story(topic, story_id, "vectors"), 0, -1)
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

    async def _centroid_with(self, topic: str, got: StoryAssignment, vector: Vector) -> bytes:
        """The story's vector sum once the item is in (read under the same WATCH as the decision)."""
        added = np.asarray(vector, dtype=np.float32)
        if got.event == "story.update":
            raw = cast(bytes | None, await self.redis.get(self._story(topic, got.story_id, "centroid")))
            total = np.frombuffer(raw, dtype=np.float32) if raw else None
            if total is not None and total.shape == added.shape:
                added = total + added
        return added.tobytes()

    def _write(
        self, pipe: Any, topic: str, item: Item, vector: Vector, score: float, now: datetime, got: StoryAssignment
    ) -> None:
        """Queue the writes of one join or open in the transaction."""
        story, ttl, stamp = self._story(topic, got.story_id), self.ttl, now.isoformat()
        if got.event == "story.new":
            fields = {"topic": topic, "title": item.title, "link": item.link or "", "opened_at": stamp}
            pipe.hset(story, mapping=fields)
        pipe.hset(story, "updated_at", stamp)
        entry = {
            "item_id": item.id, "title": item.title, "link": item.link, "source": item.feed.title or item.feed.url,
            "score": round(score, 4), "at": stamp, "reason": got.reason,
            "similarity": None if got.similarity is None else round(got.similarity, 4),
        }  # fmt: skip
        part_key = {part: self._story(topic, got.story_id, part) for part in ("items", "vectors", "feeds")}
        pipe.rpush(part_key["items"], json.dumps(entry))
        pipe.ltrim(part_key["items"], 0, self.settings.max_items - 1)
        pipe.rpush(part_key["vectors"], np.asarray(vector, dtype=np.float32).tobytes())
        pipe.ltrim(part_key["vectors"], 0, self.settings.max_items - 1)
        pipe.sadd(part_key["feeds"], item.feed.url)
        for key in (story, *part_key.values()):
            pipe.expire(key, ttl)
        if item.link:
            pipe.set(self._topic_key("link", topic, _digest(item.link)), got.story_id, ex=ttl)
        pipe.set(self._topic_key("title", topic, _digest(normalized_title(item.title))), got.story_id, ex=ttl)
        recent = self._topic_key("recent", topic)
        pipe.zadd(recent, {got.story_id: now.timestamp()})
        pipe.zremrangebyscore(recent, "-inf", now.timestamp() - self.settings.window)
        pipe.expire(recent, ttl)
        index = self._index(topic)
        pipe.zadd(index, {got.story_id: now.timestamp()})
        pipe.zremrangebyscore(index, "-inf", now.timestamp() - self.settings.window)
        pipe.incr(self._topic_key("version", topic))  # what concurrent deciders WATCH

    def _write_languages(
        self, pipe: Any, topic: str, item: Item, got: StoryAssignment, writes: _Writes, places: Sequence[str],
        now: datetime,
    ) -> None:  # fmt: skip
        """Queue what later items in other languages compare with: text, multilingual vectors, places."""
        if self.languages is None:
            return
        route, ttl, at = story_route(item.language), self.ttl, now.timestamp()
        mvectors, texts = self._story(topic, got.story_id, "mvectors"), self._story(topic, got.story_id, "texts")
        pipe.hset(texts, item.id, item.text[:TEXT_CHARS])
        if writes.mvector is not None:
            pipe.hset(mvectors, item.id, writes.mvector)
        for key, item_id, raw in writes.fresh:
            pipe.hset(key, item_id, raw)
        named = self._story(topic, got.story_id, "places")
        if places:
            pipe.sadd(named, *places)
        for key in (texts, mvectors, named):
            pipe.expire(key, ttl)
        sets = {"mixed": route == "multilingual", "unshared": route == "places" and got.event == "story.new"}
        for kind, add in sets.items():
            key = self._topic_key(kind, topic)
            if add:
                pipe.zadd(key, {got.story_id: at})
            pipe.zremrangebyscore(key, "-inf", at - self.settings.window)
            pipe.expire(key, ttl)
        if route != "places":  # a story with an item in a shared space is found through that space from now on
            pipe.zrem(self._topic_key("unshared", topic), got.story_id)

    async def recent(self, limit: int = 20) -> list[StorySummary]:
        """The most recently updated stories still within the window, newest first."""
        summaries = []
        for topic, story_id in await self._newest(limit):
            fields = {_text(k): _text(v) for k, v in (await self.redis.hgetall(self._story(topic, story_id))).items()}
            if not fields:
                continue
            raw = await self.redis.lrange(self._story(topic, story_id, "items"), 0, -1)
            items = [StoryItem(**json.loads(entry)) for entry in raw]
            sources = int(await self.redis.scard(self._story(topic, story_id, "feeds")))
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

    async def _newest(self, limit: int) -> list[tuple[str, str]]:
        """(topic, story id) of the ``limit`` most recently updated stories (topic "" outside cluster mode)."""
        if not self.names.cluster:
            return [("", _text(i)) for i in cast(list[bytes], await self.redis.zrevrange(self.index, 0, limit - 1))]
        merged: list[tuple[float, str, str]] = []
        for raw_topic in cast(set[bytes], await self.redis.smembers(self.topics)):
            topic = _text(raw_topic)
            rows = cast(
                list[tuple[bytes, float]], await self.redis.zrevrange(self._index(topic), 0, limit - 1, withscores=True)
            )
            merged.extend((float(at), topic, _text(story_id)) for story_id, at in rows)
        merged.sort(reverse=True)
        return [(topic, story_id) for _, topic, story_id in merged[:limit]]

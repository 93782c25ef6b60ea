"""Stories across languages: which space compares an item with a story, and the multilingual vectors of stories.

The English model (all-MiniLM-L6-v2) puts an Arabic report nearer unrelated Arabic text than its English
translation, so an Arabic first report and the English wire story hours later never met in its space: two
alerts. Each item of a story therefore also gets a vector in the multilingual model's space (USE-m3), where
one event told in English, Arabic, Russian and Turkish lies close together:

- an English item is compared as before (English vectors, ``stories.threshold``); only when that finds no story
  and the topic has a recent story holding a non-English item is it embedded in the multilingual space and
  compared with those stories (``stories.multilingual_threshold``): an English-only stream never loads USE-m3
  for stories, and English-English grouping is exactly what it was;
- a text in one of USE-m3's languages is compared in the multilingual space with every recent story of its
  topic; the story's English items are embedded there at that moment, from the text the story keeps, once;
- Kurdish, which USE-m3 was not trained on (its vectors of a Kurmanji report sit at 0.1-0.3 from the same
  report in any other language), joins the newest recent story of its topic that names one of the same places
  (services/classifier/places.py; the gazetteer lists the Kurmanji and Sorani names). A story opened by a
  Kurdish report is found the same way by the reports that follow it in other languages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.routing import MULTILINGUAL_LANGUAGES

Route = Literal["english", "multilingual", "places"]
Vector = npt.NDArray[np.float32]
# Kurdish by any of its codes (Kurmanji ku/kmr, Sorani ckb and py3langid's sdh): no model here maps it near the
# other languages, so its reports meet a story by the places they name.
PLACES_LANGUAGES = frozenset({"ku", "kmr", "ckb", "sdh"})
TEXT_CHARS = 2000  # of an item's text kept with its story, to embed it in the multilingual space when first needed
MULTILINGUAL_CANDIDATES = 20  # newest recent stories of a topic compared in the multilingual space
StoryKey = Callable[[str, str, str], str]  # (topic, story id, part) -> key


def story_route(language: str | None) -> Route:
    """How an item in ``language`` is compared with stories (see the module docstring); unknown: English."""
    if language in PLACES_LANGUAGES:
        return "places"
    if language in MULTILINGUAL_LANGUAGES:
        return "multilingual"
    return "english"


class MultilingualStories:
    """Reads stories' multilingual vectors (embedding their English items when first needed) and their places."""

    def __init__(self, redis: Redis, story_key: StoryKey, embedder: Embedder) -> None:
        self.redis, self.story_key, self.embedder = redis, story_key, embedder

    async def embed(self, texts: list[str]) -> Vector:
        """Multilingual vectors of ``texts``, off the event loop (USE-m3 is a numpy forward pass)."""
        return cast(Vector, await asyncio.to_thread(self.embedder.encode, [text[:TEXT_CHARS] for text in texts]))

    async def nearest(
        self, topic: str, story_ids: Sequence[str], vector: Vector
    ) -> tuple[str | None, float, list[tuple[str, str, bytes]]]:
        """The story with the item most like ``vector`` in the multilingual space, its cosine, and the vectors
        embedded on the way (key, item id, bytes), for the caller to store in its transaction."""
        async with self.redis.pipeline(transaction=False) as reads:
            for story_id in story_ids:
                reads.hgetall(self.story_key(topic, story_id, "mvectors"))
                reads.hgetall(self.story_key(topic, story_id, "texts"))
            replies = cast(list[dict[bytes, bytes]], await reads.execute())
        stored = [replies[n] for n in range(0, len(replies), 2)]
        texts = [replies[n] for n in range(1, len(replies), 2)]
        missing = [
            (n, item_id, text.decode())
            for n, (vectors, kept) in enumerate(zip(stored, texts, strict=True))
            for item_id, text in kept.items()
            if item_id not in vectors
        ]
        fresh: list[tuple[str, str, bytes]] = []
        if missing:
            embedded = await self.embed([text for _, _, text in missing])
            for (n, item_id, _), row in zip(missing, embedded, strict=True):
                stored[n][item_id] = row.astype(np.float32).tobytes()
                fresh.append((self.story_key(topic, story_ids[n], "mvectors"), item_id.decode(), stored[n][item_id]))
        best_id, best = None, -1.0
        for story_id, vectors in zip(story_ids, stored, strict=True):
            rows = [np.frombuffer(raw, dtype=np.float32) for raw in vectors.values()]
            rows = [row for row in rows if row.shape == vector.shape]
            if not rows:
                continue
            similarity = float(np.max(np.stack(rows) @ vector))
            if similarity > best:
                best_id, best = story_id, similarity
        return best_id, best, fresh

    async def by_places(self, topic: str, story_ids: Sequence[str], places: Sequence[str]) -> str | None:
        """The newest of ``story_ids`` (given oldest first) that names one of ``places``."""
        if not places or not story_ids:
            return None
        async with self.redis.pipeline(transaction=False) as reads:
            for story_id in story_ids:
                reads.smembers(self.story_key(topic, story_id, "places"))
            named = cast(list[set[bytes]], await reads.execute())
        wanted = {place.encode() for place in places}
        for story_id, story_places in zip(reversed(story_ids), reversed(named), strict=True):
            if wanted & story_places:
                return story_id
        return None

"""Examples learned from votes: a vote "relevant" adds the item's text to the topic's examples, "not relevant" to
its counter-examples. Kept in Redis next to the config's own; the classifier rebuilds its topic models (re-embeds
the examples) when the version counter moves, so a vote counts from the next batch on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from dataclasses import dataclass
from datetime import datetime

import yaml
from redis.asyncio import Redis

from services.classifier.rescoring import RescoringScorer
from services.classifier.scoring import Scorer
from shared.config import TopicConfig
from shared.streams import StreamNames

MAX_TEXT_CHARS = 1000
# The version each Scorer was built at (a Scorer is built once per version; weak, so old ones can go).
_BUILT_AT: weakref.WeakKeyDictionary[Scorer, int] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LearnedExample:
    """One voted text for one topic."""

    id: str
    topic: str
    text: str
    relevant: bool
    source: str  # the alert or item id voted on
    at: str

    def to_json(self) -> str:
        """As stored in the topic's hash."""
        return json.dumps(self.__dict__, ensure_ascii=False)


def _hash_key(names: StreamNames, topic: str) -> str:
    return names.key("learned", "topic", topic)


def version_key(names: StreamNames) -> str:
    """The counter bumped on every change to any learned example."""
    return names.key("learned", "version")


def example_id(topic: str, source: str) -> str:
    """One example per (topic, voted item): a later vote on the same item replaces the earlier one."""
    return hashlib.sha256(f"{topic}\x00{source}".encode()).hexdigest()[:16]


async def record_vote(
    redis: Redis, names: StreamNames, topic: str, text: str, relevant: bool, source: str, at: datetime
) -> LearnedExample:
    """Add (or replace) the example for this item and topic, and bump the version, atomically."""
    example = LearnedExample(example_id(topic, source), topic, text[:MAX_TEXT_CHARS], relevant, source, at.isoformat())
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(_hash_key(names, topic), example.id, example.to_json())
        pipe.incr(version_key(names))
        await pipe.execute()
    return example


async def remove_example(redis: Redis, names: StreamNames, topic: str, example: str) -> bool:
    """Forget one learned example; True when it existed."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(_hash_key(names, topic), example)
        pipe.incr(version_key(names))
        removed, _ = await pipe.execute()
    return bool(removed)


async def learned_examples(redis: Redis, names: StreamNames, topics: list[str]) -> dict[str, list[LearnedExample]]:
    """Every topic's learned examples, oldest first."""
    result: dict[str, list[LearnedExample]] = {}
    for topic in topics:
        raw = await redis.hvals(_hash_key(names, topic))
        examples = [LearnedExample(**json.loads(value)) for value in raw]
        result[topic] = sorted(examples, key=lambda example: example.at)
    return result


async def learned_version(redis: Redis, names: StreamNames) -> int:
    """The current version (0 before any vote)."""
    return int(await redis.get(version_key(names)) or 0)


def with_learned(topics: dict[str, TopicConfig], learned: dict[str, list[LearnedExample]]) -> dict[str, TopicConfig]:
    """The configured topics with the learned texts appended to their examples and counter-examples."""
    merged = {}
    for name, config in topics.items():
        extra = learned.get(name, [])
        merged[name] = config.model_copy(
            update={
                "examples": [*config.examples, *(e.text for e in extra if e.relevant)],
                "counter_examples": [*config.counter_examples, *(e.text for e in extra if not e.relevant)],
            }
        )
    return merged


def export_yaml(learned: dict[str, list[LearnedExample]]) -> str:
    """The learned examples as a ``topics:`` YAML fragment to paste into the config (then remove them here)."""
    doc = {
        topic: {
            "examples": [e.text for e in examples if e.relevant],
            "counter_examples": [e.text for e in examples if not e.relevant],
        }
        for topic, examples in learned.items()
        if examples
    }
    return yaml.safe_dump({"topics": doc}, allow_unicode=True, sort_keys=False, width=1000)


async def current_scorer(redis: Redis, names: StreamNames, topics: dict[str, TopicConfig], scorer: Scorer) -> Scorer:
    """``scorer``, or a new one with the learned examples when they changed since it was built."""
    version = await learned_version(redis, names)
    if _BUILT_AT.get(scorer, 0) == version:
        return scorer
    learned = await learned_examples(redis, names, list(topics))
    # Re-embedding the examples takes a model call: off the event loop, like scoring.
    merged = with_learned(topics, learned)
    if isinstance(scorer, RescoringScorer):  # the same models, fp32 re-scoring near the thresholds kept
        fresh: Scorer = await asyncio.to_thread(scorer.with_topics, merged)
    else:
        fresh = await asyncio.to_thread(Scorer, merged, scorer.embedder, scorer.multilingual)
    _BUILT_AT[fresh] = version
    return fresh

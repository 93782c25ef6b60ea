"""Topic thresholds set from the console, kept in Redis and applied over the config's on every batch.

An override changes only where a topic alerts, never how it scores: the score and its reasons stay as the
config's topic made them, and the alert's ``reasons.threshold`` says which threshold was applied. Deleting the
override returns the topic to its configured threshold from the next batch on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from redis.asyncio import Redis

from services.classifier.scoring import TopicScore
from shared.overrides import clear_unit_value, load_unit_values, save_unit_value
from shared.streams import StreamNames


def overrides_key(names: StreamNames) -> str:
    """The hash topic -> threshold."""
    return names.key("overrides", "thresholds")


async def load_thresholds(redis: Redis, names: StreamNames) -> dict[str, float]:
    """Every threshold override (unreadable values are ignored: the config's threshold stands)."""
    return await load_unit_values(redis, overrides_key(names))


async def save_threshold(redis: Redis, names: StreamNames, topic: str, threshold: float) -> None:
    """Set one topic's override (0..1)."""
    await save_unit_value(redis, overrides_key(names), topic, threshold, "threshold")


async def clear_threshold(redis: Redis, names: StreamNames, topic: str) -> bool:
    """Remove one topic's override; True when there was one."""
    return await clear_unit_value(redis, overrides_key(names), topic)


def apply_thresholds(scores: list[list[TopicScore]], thresholds: Mapping[str, float]) -> list[list[TopicScore]]:
    """The same scores judged against the overridden thresholds (reasons report the threshold applied)."""
    if not thresholds:
        return scores
    return [[_with_threshold(score, thresholds.get(score.topic)) for score in row] for row in scores]


def _with_threshold(score: TopicScore, threshold: float | None) -> TopicScore:
    # A topic's own threshold for a language (config ``thresholds``) is on the multilingual model's scale: an
    # override set in the console, on the English model's, would misjudge it, so it stands.
    if threshold is None or score.language_threshold:
        return score
    reasons = score.reasons.model_copy(update={"threshold": threshold})
    return dataclasses.replace(score, threshold=threshold, reasons=reasons)

"""Tuning a subscription's ``min_score``: what it would receive over the stored items and an uploaded labeled set.

A subscription gets an alert of its topic when the classifier alerted (score at or above the topic's current
threshold, override included), the score reaches the subscription's ``min_score`` and, if it lists keywords, one of
them is in the text. Saved values are Redis overrides the notifier applies (services/notifier/overrides.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.classifier.evaluation import confusion, sweep
from services.classifier.scoring import TopicScore
from services.notifier.routing import text_has_keyword
from shared.config import SubscriptionConfig
from shared.schemas import Item
from tripwire.console.tuning import LabeledFigures, LabeledSet, pr_curve_svg_points


@dataclass(frozen=True)
class SubscriptionTuning:
    """One subscription on the slider, for one topic."""

    name: str
    configured: float | None  # min_score in the config
    override: float | None  # min_score saved from the console
    min_score: float  # the slider's value
    threshold: float  # the topic's current threshold: alerts below it never reach the notifier
    keywords: list[str]
    stored: int  # stored items looked at
    would_get: int  # ... that the subscription would get at the slider's min_score
    gets_now: int  # ... that it gets with its current min_score
    figures: LabeledFigures | None
    curve_points: str

    @property
    def current(self) -> float | None:
        """The min_score the notifier applies now."""
        return self.override if self.override is not None else self.configured


def takers(subscriptions: Sequence[SubscriptionConfig], topic: str) -> list[SubscriptionConfig]:
    """The subscriptions that take ``topic`` (an empty topic list takes every topic)."""
    return [sub for sub in subscriptions if sub.takes(topic)]


def _keyword_ok(keywords: list[str], text: str, score: TopicScore | None = None) -> bool:
    if not keywords:
        return True
    matched = " ".join(score.reasons.keywords) if score is not None else ""
    return text_has_keyword(keywords, f"{text} {matched}")


def stored_counts(
    scored: Sequence[tuple[Item, TopicScore]], threshold: float, min_scores: Sequence[float | None], keywords: list[str]
) -> list[int]:
    """How many stored items the subscription would get at each of ``min_scores`` (None: no min_score)."""
    eligible = [
        score.score
        for item, score in scored
        if score.score >= threshold and _keyword_ok(keywords, f"{item.title} {item.summary}", score)
    ]
    return [sum(value >= (bar or 0.0) for value in eligible) for bar in min_scores]


def labeled_subscription_figures(
    labeled: LabeledSet, topic_index: int, topic: str, threshold: float, min_score: float, keywords: list[str]
) -> LabeledFigures:
    """Precision and recall of what the subscription would get, at ``min_score`` and at every min_score that matters."""
    scores = labeled.scores[:, topic_index]
    actual = np.array([topic in labels for labels in labeled.labels], dtype=np.bool_)
    passes = np.array([_keyword_ok(keywords, text) for text in labeled.texts], dtype=np.bool_)
    received = np.where(passes & (scores >= threshold), scores, -1.0)  # never sent: below every min_score
    predicted = received >= max(min_score, threshold)
    # A min_score under the topic's threshold changes nothing, so the curve starts at the threshold.
    curve = [point for point in sweep(received, actual) if point.threshold >= threshold]
    return LabeledFigures(confusion(predicted, actual, min_score), curve)


def subscription_tuning(
    sub: SubscriptionConfig,
    override: float | None,
    min_score: float | None,
    topic: str,
    topic_index: int,
    threshold: float,
    scored: Sequence[tuple[Item, TopicScore]],
    labeled: LabeledSet | None,
) -> SubscriptionTuning:
    """The slider's figures for ``sub`` at ``min_score`` (default: its current one, else the topic's threshold)."""
    current = override if override is not None else sub.min_score
    chosen = min_score if min_score is not None else (current if current is not None else threshold)
    would_get, gets_now = stored_counts(scored, threshold, [chosen, current], sub.keywords)
    figures = None
    if labeled is not None:
        figures = labeled_subscription_figures(labeled, topic_index, topic, threshold, chosen, sub.keywords)
    return SubscriptionTuning(
        sub.name, sub.min_score, override, chosen, threshold, sub.keywords, len(scored), would_get, gets_now,
        figures, pr_curve_svg_points(figures.curve) if figures else "",
    )  # fmt: skip

"""Scoring items against topics: nearest examples, counter-examples and keyword evidence, explained.

score = best similarity to a positive example (over the whole text and each sentence)
        - the amount by which the nearest counter-example is closer than that example
        + keyword bonus (any terms, and all groups satisfied); a ``none`` term vetoes to 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from services.classifier.embedder import Embedder, Vectors
from services.classifier.keywords import KeywordMatcher
from shared.config import TopicConfig
from shared.schemas import Item, Reasons

KEYWORD_TERM_BONUS = 0.05
KEYWORD_BONUS_CAP = 0.10
ALL_GROUPS_BONUS = 0.10
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'“])")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text (a simple split on end punctuation followed by a capital)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if len(part.strip()) > 20]


@dataclass(frozen=True)
class TopicScore:
    """One item's score for one topic, with its reasons."""

    topic: str
    score: float
    threshold: float
    reasons: Reasons

    @property
    def matched(self) -> bool:
        """True when the score reaches the topic's threshold."""
        return self.score >= self.threshold


class TopicModel:
    """A topic with its example embeddings computed once."""

    def __init__(self, name: str, config: TopicConfig, embedder: Embedder) -> None:
        self.name, self.config = name, config
        self.examples = config.examples
        self.counter_examples = config.counter_examples
        self.example_vectors = embedder.encode(self.examples)
        self.counter_vectors = embedder.encode(self.counter_examples)
        self.keywords = KeywordMatcher(config.keywords)

    def score(self, text: str, units: list[str], unit_vectors: Vectors) -> TopicScore:
        """Score one item given its text units (whole text first, then sentences) and their vectors."""
        sims = unit_vectors @ self.example_vectors.T
        unit_index, example_index = np.unravel_index(int(np.argmax(sims)), sims.shape)
        best = float(sims[unit_index, example_index])
        counter, counter_index = 0.0, None
        if len(self.counter_examples):
            counter_sims = unit_vectors[unit_index] @ self.counter_vectors.T
            counter_index = int(np.argmax(counter_sims))
            counter = float(counter_sims[counter_index])
        keywords = self.keywords.match(text)
        bonus = min(KEYWORD_BONUS_CAP, KEYWORD_TERM_BONUS * len(keywords.any_terms))
        bonus += ALL_GROUPS_BONUS if keywords.all_satisfied else 0.0
        raw = best - max(0.0, counter - best) + bonus
        score = 0.0 if keywords.vetoed_by else float(np.clip(raw, 0.0, 1.0))
        reasons = Reasons(
            score=round(score, 4),
            threshold=self.config.threshold,
            keywords=keywords.terms,
            nearest_example=self.examples[example_index],
            example_similarity=round(best, 4),
            best_sentence=units[unit_index] if unit_index > 0 else None,
            sentence_similarity=round(best, 4) if unit_index > 0 else None,
            counter_example=self.counter_examples[counter_index] if counter_index is not None else None,
            counter_similarity=round(counter, 4) if counter_index is not None else None,
        )
        return TopicScore(self.name, score, self.config.threshold, reasons)


class Scorer:
    """Scores batches of items against every topic with one model call per batch."""

    def __init__(self, topics: dict[str, TopicConfig], embedder: Embedder) -> None:
        self.embedder = embedder
        self.topics = [TopicModel(name, config, embedder) for name, config in topics.items()]

    def score_texts(self, texts: list[str]) -> list[list[TopicScore]]:
        """Every topic's score for each text."""
        units_per_text = [[text, *split_sentences(text)] for text in texts]
        flat = [unit for units in units_per_text for unit in units]
        vectors = self.embedder.encode(flat)
        results, start = [], 0
        for text, units in zip(texts, units_per_text, strict=True):
            unit_vectors = vectors[start : start + len(units)]
            start += len(units)
            results.append([topic.score(text, units, unit_vectors) for topic in self.topics])
        return results

    def score_items(self, items: list[Item]) -> list[list[TopicScore]]:
        """Every topic's score for each item (title and summary)."""
        return self.score_texts([item.text for item in items])

"""Tuning in the console: score any text against every topic, and see what a threshold would alert on.

The model is loaded on first use (the read pages work without it) and runs in a worker thread, one call at a time,
so the event loop keeps serving pages while it encodes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.evaluation import Confusion, EvalDataError, confusion, sweep
from services.classifier.learned import current_scorer
from services.classifier.scoring import Scorer, TopicScore
from shared.config import TopicConfig
from shared.schemas import Item
from shared.streams import StreamNames

EmbedderFactory = Callable[[], Embedder]
MAX_LABELED_LINES = 5000


@dataclass(frozen=True)
class LabeledSet:
    """An uploaded labeled file, scored: one row of topic scores per line, and its labels."""

    name: str
    scores: npt.NDArray[np.float64]  # (lines, topics), topics in config order
    labels: list[frozenset[str]]
    texts: list[str] = field(default_factory=list)  # for a subscription's keywords
    languages: list[str | None] = field(default_factory=list)  # each line's "lang", when the file gives it
    # (lines, topics): a language's own threshold (config ``thresholds``) where one was applied, else NaN
    own_thresholds: npt.NDArray[np.float64] | None = None


class ScoringPool:
    """The console's Scorer: built lazily, used from one worker thread at a time, with a cache of item scores."""

    def __init__(
        self,
        topics: dict[str, TopicConfig],
        embedder_factory: EmbedderFactory,
        redis: Redis,
        names: StreamNames,
        multilingual_factory: Callable[[], Embedder | None] | None = None,
    ) -> None:
        self.topics, self.topic_names = topics, list(topics)
        self.redis, self.names = redis, names
        self._factory = embedder_factory
        self._multilingual_factory = multilingual_factory  # non-English items: services/classifier/routing.py
        self._base: Scorer | None = None  # the config's topics alone
        self._scorer: Scorer | None = None  # with the learned examples, as the classifier scores now
        self._lock = asyncio.Lock()
        self._item_scores: dict[str, list[TopicScore]] = {}
        self.labeled: LabeledSet | None = None

    async def _current(self) -> Scorer:
        base = await self._unlearned()
        scorer = await current_scorer(self.redis, self.names, self.topics, self._scorer or base)
        if scorer is not self._scorer:
            self._item_scores.clear()  # the votes changed: stored items score differently now
            self._scorer = scorer
        return scorer

    async def score_texts(
        self, texts: list[str], languages: Sequence[str | None] | None = None
    ) -> list[list[TopicScore]]:
        """Every topic's score for each text, with the learned examples as the classifier uses them."""
        async with self._lock:
            scorer = await self._current()
            return await asyncio.to_thread(scorer.score_texts, texts, languages)

    async def score_texts_unlearned(self, texts: list[str]) -> list[list[TopicScore]]:
        """Scores from the config's examples alone (to show what the votes changed)."""
        async with self._lock:
            base = await self._unlearned()
            return await asyncio.to_thread(base.score_texts, texts)

    async def _unlearned(self) -> Scorer:
        if self._base is None:
            multilingual = self._multilingual_factory() if self._multilingual_factory else None
            self._base = await asyncio.to_thread(Scorer, self.topics, self._factory(), multilingual)
        return self._base

    async def score_items(self, items: Sequence[Item]) -> list[list[TopicScore]]:
        """Every topic's score for each item; an item is scored once per console run."""
        async with self._lock:
            scorer = await self._current()
            missing = [item for item in items if item.id not in self._item_scores]
            if missing:
                texts, languages = [item.text for item in missing], [item.language for item in missing]
                rows = await asyncio.to_thread(scorer.score_texts, texts, languages)
                self._item_scores.update((item.id, row) for item, row in zip(missing, rows, strict=True))
            return [self._item_scores[item.id] for item in items]


def parse_labeled(name: str, text: str, known_topics: set[str]) -> list[tuple[str, frozenset[str]]]:
    """(text, labels) per line of an uploaded JSONL file ({"title", "summary", "labels"}); errors name the line."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalDataError(f"{where}: not valid JSON ({exc.msg}); write one JSON object per line") from None
        if not isinstance(row, dict) or not isinstance(row.get("title"), str) or not row["title"].strip():
            raise EvalDataError(f'{where}: expected an object with a non-empty "title"')
        labels = row.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise EvalDataError(f"{where}: labels: {labels!r} is not a list of topic names")
        unknown = sorted(set(labels) - known_topics)
        if unknown:
            raise EvalDataError(f"{where}: labels: unknown topic(s) {', '.join(unknown)}")
        summary = row.get("summary") if isinstance(row.get("summary"), str) else ""
        text_ = f"{row['title'].strip()}. {summary.strip()}".strip(". ") if summary else row["title"].strip()
        rows.append((text_, frozenset(labels)))
        if len(rows) > MAX_LABELED_LINES:
            raise EvalDataError(f"{name}: more than {MAX_LABELED_LINES} lines; upload a smaller sample")
    if not rows:
        raise EvalDataError(f"{name}: no labeled items; write one JSON object per line")
    return rows


@dataclass(frozen=True)
class LabeledFigures:
    """One topic over a labeled set: the figures at the chosen threshold and the whole precision-recall sweep."""

    at_threshold: Confusion
    curve: list[Confusion]


def labeled_figures(labeled: LabeledSet, topic_index: int, topic: str, threshold: float) -> LabeledFigures:
    """Precision and recall of ``topic`` at ``threshold``, and at every threshold that changes a decision."""
    scores = labeled.scores[:, topic_index]
    actual = np.array([topic in labels for labels in labeled.labels], dtype=np.bool_)
    return LabeledFigures(confusion(scores >= threshold, actual, threshold), sweep(scores, actual))


def labeled_languages(text: str) -> list[str | None]:
    """The ``lang`` of each line of a labeled file that ``parse_labeled`` accepted (None where a line has none)."""
    languages: list[str | None] = []
    for line in text.splitlines():
        if line.strip():
            lang = json.loads(line).get("lang")
            languages.append(lang.strip().lower() if isinstance(lang, str) and lang.strip() else None)
    return languages


def own_threshold_matrix(results: list[list[TopicScore]]) -> npt.NDArray[np.float64]:
    """Per line and topic, the language's own threshold where the scorer applied one, else NaN."""
    return np.array(
        [[r.threshold if r.language_threshold else np.nan for r in row] for row in results], dtype=np.float64
    )


def language_figures(
    labeled: LabeledSet, topic_index: int, topic: str, threshold: float
) -> list[tuple[str, Confusion]]:
    """Per language of the labeled set, ``topic``'s figures: at ``threshold``, or the language's own threshold."""
    if not any(labeled.languages):
        return []
    scores = labeled.scores[:, topic_index]
    limits = np.full(len(scores), threshold, dtype=np.float64)
    if labeled.own_thresholds is not None:
        own = labeled.own_thresholds[:, topic_index]
        limits = np.where(np.isnan(own), limits, own)
    actual = np.array([topic in labels for labels in labeled.labels], dtype=np.bool_)
    codes = np.array([language or "unknown" for language in labeled.languages])
    return [
        (str(code), confusion(scores[codes == code] >= limits[codes == code], actual[codes == code], threshold))
        for code in sorted(set(codes.tolist()))
    ]


def pr_curve_svg_points(curve: Sequence[Confusion], width: int = 300, height: int = 200) -> str:
    """The precision-recall curve as SVG polyline points (x: recall, y: precision; origin bottom left)."""
    points = sorted((point.recall, point.precision) for point in curve)
    return " ".join(f"{recall * width:.1f},{(1 - precision) * height:.1f}" for recall, precision in points)

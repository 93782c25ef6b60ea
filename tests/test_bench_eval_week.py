"""bench/eval_week's week builder: distinct items of the shipped eval sets' text, each with its summary's labels."""

from __future__ import annotations

import random
from pathlib import Path

from bench._eval_week_data import FALLBACK_SHARES, Source, fallback_sources, week, write_jsonl
from services.classifier.evaluation import load_labeled
from services.classifier.scoring import split_sentences


def _made_from(row: dict[str, object], sources: list[Source]) -> bool:
    """The row's labels are those of an item whose summary sentences it carries, with a title of the same group."""
    summary, labels = str(row["summary"]), tuple(sorted(row["labels"]))  # type: ignore[call-overload]
    for source in sources:
        if source.labels != labels or source.lang != row.get("lang"):
            continue
        if all(sentence in summary for sentence in split_sentences(source.summary) or [source.summary]):
            group = [s.title for s in sources if s.group == source.group and s.lang == source.lang]
            if row["title"] in group:
                return True
    return False


def test_week_items_are_distinct_labeled_and_mostly_negative(tmp_path: Path) -> None:
    """More items than the sets hold, none twice, ~5% on-topic, each traceable to the items it was made from."""
    sources = fallback_sources()
    rows = week(sources, dict(FALLBACK_SHARES), 1_500, random.Random(1))
    assert len(rows) == 1_500 > 2 * len(sources)
    assert len({(r["title"], r["summary"]) for r in rows}) == len(rows)
    on_topic = sum(1 for r in rows if r["labels"])
    assert on_topic == 1_500 // 20
    assert all(_made_from(row, sources) for row in rows)
    labeled = load_labeled(write_jsonl(rows, tmp_path / "week.jsonl"), {"us_russia_standoff", "joint_patrol"})
    assert len(labeled) == len(rows)
    assert {item.lang for item in labeled} >= {None, "ru", "ar", "tr"}


def test_a_week_of_13330_distinct_items_can_be_made_from_the_shipped_sets() -> None:
    """The fallback (no dev set) still gives a full week without a repeat; a prefix has the week's make-up."""
    rows = week(fallback_sources(), dict(FALLBACK_SHARES), 13_330, random.Random(2))
    assert len({(r["title"], r["summary"]) for r in rows}) == 13_330
    assert sum(1 for r in rows[:1_333] if r["labels"]) == 1_333 // 20 + 1  # the 1-in-20 pattern, from item 0

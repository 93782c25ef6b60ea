"""A week-sized labeled set of distinct items made from a small one, for timing ``tripwire eval`` (bench/eval_week).

Each synthetic item takes one item's title and another's summary from the same group (on-topic, hard negatives,
negatives: bench/e2e's proportions), first every (title, summary) pair, then summaries with their sentences in
another order, then two summaries of the same labels joined, until the group has as many items as it needs. Each
item carries the labels of the item its (first) summary came from: the labels are for timing a realistic mix (how
many items sit near a threshold and get their sentences embedded), not for quality figures. Titles and summaries
are paired only within one language. Not a benchmark itself (the leading underscore keeps ``python -m bench`` from
running it).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.e2e import DEV_GROUPS, MATCH_EVERY, REAL_SHARES
from services.classifier.scoring import split_sentences

ROOT = Path(__file__).resolve().parent.parent
FALLBACK_SETS = [
    ROOT / "data" / "eval" / name for name in ("topics.jsonl", "multilingual.jsonl", "multilingual_holdout.jsonl")
]
FALLBACK_SHARES = {"on-topic": 1, "off-topic": MATCH_EVERY - 1}
MAX_ORDERS = 6  # sentence orders tried per summary: enough variety without factorial blow-up on long summaries


@dataclass(frozen=True)
class Source:
    """One item of the small set the week is made from."""

    title: str
    summary: str
    labels: tuple[str, ...]
    group: str
    lang: str | None = None


def dev_sources(path: Path) -> list[Source]:
    """The dev set's items, grouped as bench/e2e's real-news mix groups them."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        Source(r["title"], r.get("summary") or "", tuple(sorted(r["labels"])), DEV_GROUPS[r["category"]]) for r in rows
    ]


def fallback_sources(paths: list[Path] = FALLBACK_SETS) -> list[Source]:
    """The shipped eval sets (English near misses and the multilingual sets): on-topic if labeled, else off-topic."""
    rows = [
        json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return [
        Source(r["title"], r.get("summary") or "", tuple(sorted(r["labels"])), _fallback_group(r), r.get("lang"))
        for r in rows
    ]


def _fallback_group(row: dict[str, object]) -> str:
    return "on-topic" if row["labels"] else "off-topic"


def week(sources: list[Source], shares: dict[str, int], n: int, rng: random.Random) -> list[dict[str, object]]:
    """N distinct labeled items in the groups' proportions, each group's items in random order (any prefix of
    the list has the same make-up as the whole)."""
    pattern = [name for name, count in shares.items() for _ in range(count)]
    needed = {name: sum(1 for k in range(n) if pattern[k % len(pattern)] == name) for name in shares}
    made = {name: iter(_group_items([s for s in sources if s.group == name], needed[name], rng)) for name in shares}
    rows = []
    for k in range(n):
        title, summary, source = next(made[pattern[k % len(pattern)]])
        row: dict[str, object] = {"id": f"week-{k}", "title": title, "summary": summary, "labels": list(source.labels)}
        if source.lang:
            row["lang"] = source.lang
        rows.append(row)
    return rows


def _group_items(sources: list[Source], needed: int, rng: random.Random) -> list[tuple[str, str, Source]]:
    """``needed`` distinct (title, summary, summary's source) of one group, the plainest variants first."""
    chosen: list[tuple[str, str, Source]] = []
    seen: set[tuple[str, str]] = set()

    def take(title: str, summary: str, source: Source) -> None:
        if len(chosen) < needed and (title, summary) not in seen:
            seen.add((title, summary))
            chosen.append((title, summary, source))

    for tier in (_pairs, _reordered):
        candidates = list(tier(sources))
        rng.shuffle(candidates)
        for candidate in candidates:
            take(*candidate)
    for _attempt in range(20 * needed):  # two summaries joined: drawn at random, their number grows as the square
        if len(chosen) == needed:
            break
        take(*_joined(sources, rng))
    if len(chosen) < needed:
        raise ValueError(f"only {len(chosen)} distinct items can be made from {len(sources)}; {needed} asked")
    rng.shuffle(chosen)  # mixes the tiers, so the first items of the week are not all plain pairs
    return chosen


def _titles_for(sources: list[Source], lang: str | None) -> list[str]:
    return [s.title for s in sources if s.lang == lang]


def _pairs(sources: list[Source]) -> Iterator[tuple[str, str, Source]]:
    """Every title with every summary of the same language in the group (each item itself included)."""
    for source in sources:
        for title in _titles_for(sources, source.lang):
            yield title, source.summary, source


def _reordered(sources: list[Source]) -> Iterator[tuple[str, str, Source]]:
    """Every title with each multi-sentence summary's sentences in up to MAX_ORDERS other orders."""
    for source in sources:
        sentences = split_sentences(source.summary)
        orders = itertools.islice(itertools.permutations(sentences), 1, MAX_ORDERS + 1)
        for order in orders:
            for title in _titles_for(sources, source.lang):
                yield title, " ".join(order), source


def _joined(sources: list[Source], rng: random.Random) -> tuple[str, str, Source]:
    """A random title with two summaries of the same labels and language joined (a longer item)."""
    first = rng.choice(sources)
    partners = [s for s in sources if s.labels == first.labels and s.lang == first.lang and s is not first]
    second = rng.choice(partners) if partners else first
    return rng.choice(_titles_for(sources, first.lang)), f"{first.summary} {second.summary}".strip(), first


def write_jsonl(rows: list[dict[str, object]], path: Path) -> Path:
    """The rows as a labeled JSONL file (what ``tripwire eval --data`` reads)."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def shares_for(kind: str) -> dict[str, int]:
    """The mix's proportions: bench/e2e's real-news mix for the dev set, 1 in 20 on-topic for the fallback."""
    return dict(REAL_SHARES) if kind == "real" else dict(FALLBACK_SHARES)

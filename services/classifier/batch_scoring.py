"""Scoring many texts as the service does: reads of ``read_count`` texts, each through the pruned scorer in one call.

``tripwire eval`` and ``tripwire backtest`` use this, so a week of items costs what the service spent on it, and the
caller sees progress after every read.
"""

from __future__ import annotations

from collections.abc import Callable

from services.classifier.scoring import Scorer, TopicScore

Progress = Callable[[int], None]  # called with the number of texts just scored


def score_in_reads(
    scorer: Scorer, texts: list[str], read_count: int, progress: Progress | None = None, *, exact: bool = False
) -> list[list[TopicScore]]:
    """Every topic's score for each text, ``read_count`` texts per model call, as the classifier scores a backlog.

    Pruned (the default) gives the service's alerts, scores and reasons; only scores far below every threshold
    (``SENTENCE_MARGIN``) can be lower than ``exact`` scoring, which embeds every sentence of every text.
    """
    results: list[list[TopicScore]] = []
    for start in range(0, len(texts), read_count):
        read = texts[start : start + read_count]
        results += scorer.score_texts(read) if exact else scorer.score_texts_pruned(read)[0]
        if progress is not None:
            progress(len(read))
    return results

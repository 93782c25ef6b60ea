"""Scoring many texts as the service does: reads of ``read_count`` texts, each through the pruned scorer in one call.

``tripwire eval`` and ``tripwire backtest`` use this, so a week of items costs what the service spent on it, and the
caller sees progress after every read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.classifier.scoring import Scorer, TopicScore

Progress = Callable[[int], None]  # called with the number of texts just scored


def score_in_reads(
    scorer: Scorer,
    texts: list[str],
    read_count: int,
    progress: Progress | None = None,
    *,
    exact: bool = False,
    languages: Sequence[str | None] | None = None,
) -> list[list[TopicScore]]:
    """Every topic's score for each text, ``read_count`` texts per model call, as the classifier scores a backlog.

    Pruned (the default) gives the service's alerts, scores and reasons; only scores far below every threshold
    (``SENTENCE_MARGIN``) can be lower than ``exact`` scoring, which embeds every sentence of every text.
    ``languages`` (one per text, None: detected) routes each text to its language's model and threshold.
    """
    langs = list(languages) if languages is not None else [None] * len(texts)
    results: list[list[TopicScore]] = []
    for start in range(0, len(texts), read_count):
        read, read_langs = texts[start : start + read_count], langs[start : start + read_count]
        if exact:
            results += scorer.score_texts(read, read_langs)
        else:
            results += scorer.score_texts_pruned(read, languages=read_langs)[0]
        if progress is not None:
            progress(len(read))
    return results

"""Where an alert's best sentence came from (title, summary or the fetched article), so the alert can say so."""

from __future__ import annotations

from typing import Literal

from shared.schemas import Item, Reasons

Source = Literal["title", "summary", "article"]


def sentence_source(item: Item, sentence: str | None) -> Source | None:
    """The part of ``item`` that holds ``sentence``; the title wins, then the article (what was scored), then the
    summary."""
    if not sentence:
        return None
    needle = sentence.strip().rstrip(".").casefold()
    if not needle:
        return None
    if needle in item.title.casefold():
        return "title"
    if item.article_text and needle in item.article_text.casefold():
        return "article"
    if needle in item.summary.casefold():
        return "summary"
    return None


def with_sentence_source(reasons: Reasons, item: Item) -> Reasons:
    """``reasons`` with best_sentence_source filled in."""
    source = sentence_source(item, reasons.best_sentence)
    return reasons.model_copy(update={"best_sentence_source": source}) if source else reasons

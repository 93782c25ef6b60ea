"""The items stream: one news item the poller found (poller -> classifier)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from shared.schemas.versioning import Message, parse_document


class FeedRef(BaseModel):
    """The feed an item came from."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str
    title: str | None = None
    # Added in v1 as an optional field: the feed's configured labels (e.g. a region); subscriptions route by them.
    labels: list[str] = Field(default_factory=list)


class Item(Message):
    """A news item, as published to ``<prefix>items``."""

    v: Literal[1] = 1
    id: str
    feed: FeedRef
    title: str
    summary: str = ""
    link: str | None = None
    published: AwareDatetime | None = None
    published_estimated: bool = False  # True when the feed gave no date and ``published`` is the fetch time
    fetched_at: AwareDatetime
    # Added in v1 as an optional field: the item's language as an ISO 639-1 code ("en", "ru", "ar", "tr", "ku"),
    # declared by its feed or detected by the poller; None when unknown (producers before this field).
    language: str | None = None
    # Added in v1 as an optional field: the opening paragraphs of the item's article page, fetched and extracted by
    # the poller (feeds with fulltext, or summaries shorter than poller.fulltext_below); None when not fetched.
    article_text: str | None = None

    @property
    def text(self) -> str:
        """The text that is scored: title and summary, or title and the article's opening when the poller fetched it
        (the opening carries the lede a short summary lacks)."""
        body = self.article_text or self.summary
        return f"{self.title}. {body}".strip(". ") if body else self.title

    @classmethod
    def from_json(cls, data: str | bytes) -> Item:
        """Parse an items-stream document."""
        return parse_document(_ITEM, data, "item")


_ITEM: TypeAdapter[Item] = TypeAdapter(Item)

"""The alerts stream: matched items with their reasons, and feed health events (classifier/poller -> notifier)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from shared.schemas.items import FeedRef, Item
from shared.schemas.versioning import Message, SchemaError, parse_document


class Reasons(BaseModel):
    """Why an item matched a topic, in terms an analyst can check."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    score: float
    threshold: float
    keywords: list[str] = Field(default_factory=list, description="Keyword terms found in the item.")
    nearest_example: str | None = Field(default=None, description="The topic example most like the item.")
    example_similarity: float | None = None
    best_sentence: str | None = Field(default=None, description="The item's sentence that matched best.")
    sentence_similarity: float | None = None
    counter_example: str | None = Field(default=None, description="The nearest near-miss example, if it weighed in.")
    counter_similarity: float | None = None
    # Added in v1 as optional fields: the two parts the score is made of (docs: Topics and tuning).
    semantic_score: float | None = Field(
        default=None, description="Example similarity less the counter-example penalty."
    )
    keyword_score: float | None = Field(default=None, description="Keyword evidence in [0, 1].")
    vetoed_by: str | None = Field(default=None, description="The 'none' term that vetoed the topic, if any.")
    # Added in v1 as an optional field: where best_sentence is from (the article only when the poller fetched it).
    best_sentence_source: Literal["title", "summary", "article"] | None = Field(
        default=None, description="Where the best sentence is from: the title, the summary or the article."
    )
    # Added in v1 as optional fields: the meaning route (docs: Languages), for the item's language.
    meaning_threshold: float | None = Field(
        default=None, description="The semantic part at which the item alerts on meaning alone (its language's)."
    )
    meaning_only: bool = Field(
        default=False, description="True when the score is the semantic part alone (it reached meaning_threshold)."
    )


class Place(BaseModel):
    """A place an alert's item names, from the gazetteer (added in v1 with ``Alert.places``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(description="The place's English name in the gazetteer.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Alert(Message):
    """An item that scored at or above a topic's threshold."""

    v: Literal[1] = 1
    type: Literal["alert"] = "alert"
    id: str = Field(description="Stable for one (item, topic): re-scoring the same item gives the same id.")
    item: Item
    topic: str
    score: float
    reasons: Reasons
    created_at: AwareDatetime
    # Added in v1 as optional fields (story clustering, services/classifier/stories.py).
    story_id: str | None = Field(default=None, description="The story this alert belongs to.")
    event: Literal["story.new", "story.update"] | None = Field(
        default=None, description="story.new for a story's first item, story.update for an item that joined it."
    )
    story_sources: int | None = Field(default=None, ge=1, description="Distinct feeds that reported the story so far.")
    story_title: str | None = Field(default=None, description="The title of the story's first item.")
    # Added in v1 as an optional field: the gazetteer places the item names (services/classifier).
    places: list[Place] = Field(default_factory=list, description="Places the item names, with coordinates.")

    @property
    def is_story_update(self) -> bool:
        """True for an item that joined a story already alerted."""
        return self.event == "story.update"


class FeedHealthEvent(Message):
    """A feed started failing, went stale, or recovered."""

    v: Literal[1] = 1
    type: Literal["feed_health"] = "feed_health"
    id: str
    feed: FeedRef
    status: Literal["failing", "stale", "recovered"]
    message: str
    consecutive_failures: int = 0
    created_at: AwareDatetime


AlertsMessage = Annotated[Alert | FeedHealthEvent, Field(discriminator="type")]
_ALERTS_MESSAGE: TypeAdapter[Alert | FeedHealthEvent] = TypeAdapter(AlertsMessage)


def parse_alerts_message(data: str | bytes) -> Alert | FeedHealthEvent:
    """Parse an alerts-stream document of either type."""
    return parse_document(_ALERTS_MESSAGE, data, "alerts message")


def alert_or_none(data: str | bytes | None) -> Alert | None:
    """The alert in an alerts-stream entry; None for a trimmed entry, an unreadable one or a feed health event."""
    if data is None:
        return None
    try:
        message = parse_alerts_message(data)
    except SchemaError:
        return None
    return message if isinstance(message, Alert) else None

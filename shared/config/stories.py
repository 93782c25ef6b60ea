"""Config of story clustering: when an alert joins an earlier story instead of opening a new one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.config.durations import Duration


class StorySettings(BaseModel):
    """One alert per story: later items close to an item that alerted recently join its story."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Cluster alerts into stories (off: every match is a new alert).")
    window: Duration = Field(
        default=48 * 3600.0, gt=0, description="An item joins a story that alerted within this long."
    )
    # Chosen from bench/stories.py on the labeled dev set (docs: Stories).
    threshold: float = Field(
        default=0.75, ge=0.0, le=1.0, description="Cosine similarity to a story's item at or above which an item joins."
    )
    # USE-m3 cosines of one event told in en/ar/ru/tr: 0.51-0.76 (best over a story's items: 0.65 and up); of two
    # different events of one topic: 0.34-0.56 (docs/languages-stories-int8.md, "Stories across languages").
    multilingual_threshold: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Cosine similarity in the multilingual model's space at or above which an item joins a story "
        "holding an item in another language.",
    )
    max_items: int = Field(default=50, ge=1, le=1000, description="Items per story kept for comparison and listing.")

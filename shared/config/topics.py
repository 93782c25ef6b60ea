"""Config of the classifier: topics (examples, counter-examples, keywords, threshold) and the model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KeywordRules(BaseModel):
    """Keyword evidence: ``any`` terms, ``all`` groups (each must match), ``none`` terms that veto."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    any_: list[str] = Field(default_factory=list, alias="any")
    all_: list[list[str]] = Field(default_factory=list, alias="all")
    none: list[str] = Field(default_factory=list)


class TopicConfig(BaseModel):
    """One topic that items are scored against."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    examples: list[str] = Field(min_length=1, description="Sentences in the style of news leads that should alert.")
    counter_examples: list[str] = Field(default_factory=list, description="Near misses that must not alert.")
    keywords: KeywordRules = Field(default_factory=KeywordRules)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Score at or above which an item alerts.")


class ClassifierSettings(BaseModel):
    """How the classifier runs the model."""

    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(default=None, description="A local model folder; default: the packaged MiniLM.")
    batch_size: int = Field(default=32, ge=1, le=512, description="Most items encoded in one model call.")

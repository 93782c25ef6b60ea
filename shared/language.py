"""An item's language: the feed's declared language wins; otherwise detected from its text, offline.

Detection uses py3langid (a maintained fork of langid.py: a naive Bayes model over byte n-grams, 97 languages,
Kurdish Kurmanji among them). Its model file ships inside the wheel (py3langid/data/model.npz.xz) and is read from
disk once per process (~1 s); nothing is fetched. Below ``MIN_CONFIDENCE`` the answer is "unknown" (None): a
headline of two words ("US jet") is not evidence of a language, and an unknown item is scored as English is.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

# Normalised probability of the top language; "US jet" scores 0.06 (as German), a Turkish headline of five
# words 0.85, the shortest items of data/eval/multilingual.jsonl at least 0.7.
MIN_CONFIDENCE = 0.5
_LOCK = threading.Lock()
_IDENTIFIER: list[Any] = []


def _identifier() -> Any:
    """The py3langid model, loaded once (thread-safe: the classifier scores in worker threads)."""
    with _LOCK:
        if not _IDENTIFIER:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _IDENTIFIER.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _IDENTIFIER[0]


def detect_language(text: str, min_confidence: float = MIN_CONFIDENCE) -> str | None:
    """The ISO 639-1 code of ``text``'s language, or None when the text is too short or mixed to tell."""
    if not text.strip():
        return None
    code, confidence = _identifier().classify(text)
    return str(code) if float(confidence) >= min_confidence else None


def item_language(declared: str | None, title: str, summary: str, *, detect: bool = True) -> str | None:
    """The feed's declared language when it has one, else (with ``detect``) the one detected from title and summary."""
    if declared:
        return declared.strip().lower()
    return _detect_remembered(f"{title}. {summary}" if summary else title) if detect else None


# A feed is parsed whole at every poll, so the same entries come back every few minutes: detection (~2 ms an item)
# is remembered for the texts of the last few thousand entries instead of being repeated.
@functools.lru_cache(maxsize=8192)
def _detect_remembered(text: str) -> str | None:
    return detect_language(text)


# Names shown next to an item (Slack, console); any other code is shown as it is.
LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fa": "Persian", "fr": "French",
    "he": "Hebrew", "it": "Italian", "ku": "Kurdish", "ru": "Russian", "tr": "Turkish", "uk": "Ukrainian",
    "zh": "Chinese",
}  # fmt: skip


def language_name(code: str | None) -> str:
    """A readable name for an ISO 639-1 code ("ru" -> "Russian"); "unknown language" for None."""
    if not code:
        return "unknown language"
    return LANGUAGE_NAMES.get(code, code)

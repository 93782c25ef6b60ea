"""Keyword terms matched in the item's language: case folded, normalised and inflected the way that language is.

English keeps the regex rules of keywords.py. In other languages a term matches whole words of the text after
both are cut into words and reduced to a comparison key the same way, so an analyst can predict a match:

- Russian and the other languages Snowball stems (German, French, Spanish ...): words compare by their Snowball
  stem, so ``патруль`` matches ``патруля``, ``российский`` matches ``российского``, ``Дерик`` matches ``Дерика``.
- Turkish, Azeri and Kurdish add suffixes to an unchanged stem (and the Snowball Turkish stemmer cuts
  ``devriye`` and ``devriyesi`` differently): a term word matches a text word that begins with it, followed by at
  most ``MAX_SUFFIX`` letters (``devriye`` -> ``devriyesini``, ``Kamışlı`` -> ``Kamışlı'da``); a term word of
  three letters or fewer matches only itself (``ram`` never finds ``ramazan``). Dotted and dotless
  i, and ş ç ğ ö ü ê î û, compare equal, so ASCII spellings (``Kamisli``) match too.
- Kurdish, both written standards, word by word by script: a Kurmanji (Latin) word compares with circumflexes and
  cedillas folded (``Rûsya`` = ``Rusya``, ``Îdlib`` = ``Idlib``, ``Dêrik`` = ``Derik``); a Sorani (Arabic-script)
  word with its letter forms folded (Arabic kaf and ya to Kurdish ک and ی, a final ه or ة to ە, ڕ to ر, ڵ to ل, a
  doubled ی or و written once, Arabic-Indic digits to 0-9), so ``دەوریە`` matches ``دەورییەی`` and ``ئێم ٤`` matches
  ``ئێم 4``. Both then take suffixes as Turkish does: ``dewriye`` -> ``dewriyeya``, ``دەوریە`` -> ``دەوریەکان``.
- Arabic: letters normalised (shared/text.py), then one prefix (و ف ب ك ل with or without ال) and up to two suffixes
  (تين تان ات ان ين ون ها ية ه ي ا) removed, keeping at least three letters; ``القامشلي``, ``بالقامشلي`` and
  ``والقامشلي`` all compare as ``قامشل``. Snowball's Arabic stemmer was measured and not used: its roots collide
  (``ديريك`` Derik -> ``دير``, the first word of Deir ez-Zor, a different city).

Acronyms (a term in capitals: ``ABD``, ``США``) and ``re:`` terms match only as keywords.py says.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

from shared.text import fold_case

MAX_SUFFIX = 8  # letters after a Turkish or Kurdish stem: "devriyelerinden" is devriye + 8
_WORD = re.compile(r"\w+")
_SNOWBALL = {
    "ru": "russian", "uk": "russian", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
    "pt": "portuguese", "nl": "dutch", "sv": "swedish", "no": "norwegian", "da": "danish", "fi": "finnish",
    "hu": "hungarian", "ro": "romanian", "el": "greek", "pl": "polish", "cs": "czech", "sr": "serbian",
}  # fmt: skip
_PREFIX_LANGUAGES = {"tr", "az", "ku"}
_KURDISH_LANGUAGES = {"ku"}
_ARABIC_LANGUAGES = {"ar"}
# Sorani letter forms to one spelling (after shared/text.py's Arabic folding, which has made ى and ة into ي and ه).
_DIGITS = {ord(d): str(n) for block in ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹") for n, d in enumerate(block)}
_SORANI_FOLD = str.maketrans({"ك": "ک", "ي": "ی", "ڕ": "ر", "ڵ": "ل", "‌": None} | _DIGITS)
_SORANI_DOUBLED = re.compile(r"([یو])\1+")
_ARABIC_PREFIXES = ("وال", "فال", "بال", "كال", "لل", "ال", "و", "ف", "ب", "ك", "ل")
# Longest first, with the letters that must stay. Up to two are removed, so the nisba adjective, its dual and plural
# meet their noun: أمريكية, أمريكيتين, الأمريكيين, أمريكي and أمريكا all compare as امريك; روسية and روسيا as روس.
_ARABIC_SUFFIXES = (
    ("تين", 3), ("تان", 3), ("ات", 3), ("ان", 3), ("ين", 3), ("ون", 3), ("ها", 3), ("يه", 4), ("ه", 3), ("ي", 3),
    ("ا", 3),
)  # fmt: skip


def stemmed_language(language: str | None) -> bool:
    """True when terms are matched by the language-aware rules of this module for texts in ``language``."""
    return language in _SNOWBALL or language in _PREFIX_LANGUAGES or language in _ARABIC_LANGUAGES


def _strip_marks(word: str) -> str:
    """Latin diacritics and Turkish dotless i folded away (ş -> s, ı -> i): the comparison form of a key."""
    decomposed = unicodedata.normalize("NFKD", word.replace("ı", "i"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _arabic_key(word: str) -> str:
    for prefix in _ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            word = word[len(prefix) :]
            break
    for _ in range(2):
        suffix = next((s for s, keep in _ARABIC_SUFFIXES if word.endswith(s) and len(word) - len(s) >= keep), "")
        if not suffix:
            break
        word = word[: -len(suffix)]
    return word


def _is_arabic_script(word: str) -> bool:
    return any("\u0600" <= char <= "\u06ff" for char in word)


def _sorani_key(word: str) -> str:
    word = _SORANI_DOUBLED.sub(r"\1", word.translate(_SORANI_FOLD))
    return word[:-1] + "ە" if word.endswith("ه") else word


def _kurdish_key(word: str) -> str:
    """Sorani words by their Arabic-script folding, Kurmanji words (and digits) with their marks folded."""
    return _sorani_key(word) if _is_arabic_script(word) else _strip_marks(word.translate(_DIGITS))


@lru_cache(maxsize=32)
def _stemmer(name: str) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer(name)


def word_keys(text: str, language: str) -> list[str]:
    """The comparison keys of every word of ``text`` in ``language``."""
    if language in _KURDISH_LANGUAGES:
        # Older Sorani writes ە as ه and a zero-width non-joiner (ه‌ی): that is ە, and the joiner is no word break.
        joined = text.replace("ه\u200c", "ە").replace("\u200c", "")
        return [_kurdish_key(word) for word in _WORD.findall(fold_case(joined, language))]
    words = _WORD.findall(fold_case(text, language))
    if language in _SNOWBALL:
        return [_strip_marks(key) for key in _stemmer(_SNOWBALL[language]).stemWords(words)]
    if language in _ARABIC_LANGUAGES:
        return [_arabic_key(word) for word in words]
    return [_strip_marks(word) for word in words]


class TermKeys:
    """One term's word keys in one language, matched against a text's keys."""

    def __init__(self, term: str, language: str) -> None:
        self.keys = word_keys(term, language)
        self.prefix = language in _PREFIX_LANGUAGES

    def found_in(self, text_keys: list[str]) -> bool:
        """True when the term's words occur in a row in ``text_keys``."""
        size = len(self.keys)
        if not size:
            return False
        return any(
            all(self._same(self.keys[k], text_keys[start + k]) for k in range(size))
            for start in range(len(text_keys) - size + 1)
        )

    def _same(self, term_key: str, text_key: str) -> bool:
        # Words of three letters or fewer match exactly: "ram" must not find "ramazan", nor "Rus" "rusça".
        if not self.prefix or len(term_key) <= 3:
            return term_key == text_key
        return text_key.startswith(term_key) and len(text_key) - len(term_key) <= MAX_SUFFIX

"""Untrusted text made plain: tags stripped in linear time, entities decoded, invisible and control characters dropped.

Feed text is written by strangers. Zero-width characters hide words from keyword matching and look-alike checks;
bidirectional overrides (U+202E ...) make a title or link display differently from what it is; C0/C1 controls have no
place in a title. All of them are removed before text is stored or shown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

# `<[^<>]*>`, never `<[^>]*>`: with the latter a run of "<" with no ">" is scanned to its end from every "<", which is
# quadratic (a 1 MB title of "&lt;" took minutes). Excluding "<" stops each scan at the next "<": linear.
_TAG = re.compile(r"<[^<>]*>")
_SPACES = re.compile(r"\s+")
_INVISIBLE = dict.fromkeys(
    [
        *range(0x00, 0x09),  # C0 controls except \t \n \v \f \r, which are whitespace and collapse to a space
        *range(0x0E, 0x20),
        *range(0x7F, 0xA0),  # DEL and C1 controls
        0x00AD,  # soft hyphen
        0x034F,  # combining grapheme joiner
        0x061C,  # Arabic letter mark
        0x180E,  # Mongolian vowel separator
        *range(0x200B, 0x2010),  # zero-width space/non-joiner/joiner, LRM, RLM
        *range(0x202A, 0x202F),  # bidi embeddings and overrides (LRE RLE PDF LRO RLO)
        *range(0x2060, 0x2070),  # word joiner, invisible operators, bidi isolates (LRI RLI FSI PDI), deprecated formats
        0xFEFF,  # zero-width no-break space / BOM
        *range(0xFFF9, 0xFFFC),  # interlinear annotation controls
    ]
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def strip_invisible(text: str) -> str:
    """Remove zero-width, bidi-override and control characters, and lone surrogates (which cannot be encoded)."""
    return _SURROGATE.sub("\ufffd", text.translate(_INVISIBLE))


def strip_tags(markup: str) -> str:
    """Replace each HTML tag with a space, in time linear in the input."""
    return _TAG.sub(" ", markup)


def plain(markup: str) -> str:
    """Tags stripped, entities decoded, invisible characters dropped, whitespace collapsed."""
    return _SPACES.sub(" ", strip_invisible(html.unescape(strip_tags(markup)))).strip()


# Arabic spelling varies where the meaning does not: hamza on or under alef, madda and wasla (أ إ آ ٱ -> ا), alef
# maqsura for final ya (ى -> ي), taa marbuta for final ha (ة -> ه), short-vowel marks and shadda (harakat), and the
# tatweel that stretches a word for layout (ـ). Search engines fold them all; so do keyword terms here.
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ـ": None})
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")


def normalize_arabic(text: str) -> str:
    """Arabic letters folded to one spelling: alef forms, alef maqsura, taa marbuta; diacritics and tatweel dropped."""
    return _ARABIC_MARKS.sub("", text).translate(_ARABIC_FOLD)


def fold_case(text: str, language: str | None = None) -> str:
    """Lower case for matching, the language's way: Turkish and Azeri I -> ı and İ -> i; Russian ё -> е."""
    if language in ("tr", "az"):
        # str.lower() maps I to i and İ to i + combining dot, both wrong in Turkish ("Irak" is ırak, "İdlib" idlib).
        text = text.replace("I", "ı").replace("İ", "i")
    folded = text.lower()
    if language in ("ru", "uk", "be"):
        folded = folded.replace("ё", "е")
    return normalize_arabic(folded) if language in ("ar", "fa", "ur") or _has_arabic(folded) else folded


def _has_arabic(text: str) -> bool:
    return any("\u0600" <= char <= "\u06ff" for char in text)


def distinct(terms: Iterable[str]) -> list[str]:
    """``terms`` without repeats, first spelling kept, case-insensitive ("drone, jet, Jet" -> "drone, jet")."""
    seen: set[str] = set()
    kept = []
    for term in terms:
        if (key := term.casefold()) not in seen:
            seen.add(key)
            kept.append(term)
    return kept

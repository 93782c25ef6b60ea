"""Untrusted text made plain: tags stripped in linear time, entities decoded, invisible and control characters dropped.

Feed text is written by strangers. Zero-width characters hide words from keyword matching and look-alike checks;
bidirectional overrides (U+202E ...) make a title or link display differently from what it is; C0/C1 controls have no
place in a title. All of them are removed before text is stored or shown.
"""

from __future__ import annotations

import html
import re

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

"""Keyword rules: whole-word, case-insensitive terms with simple inflections, phrases, and ``re:`` regexes.

Inflections are deliberately simple (an analyst must be able to predict a match): the last word of a term
also matches with -s/-es/'s, and words of four letters or more also with -ed/-ing (a doubled final
consonant and a dropped final e allowed: patrol -> patrolled, collide -> colliding). A term written in
capitals (``US``, ``NATO``) is an acronym: it matches case-sensitively and exactly, so ``US`` never
matches the pronoun "us" or "used".

A text in another language (Russian, Arabic, Turkish ...) is also matched word by word the way that language
inflects, with its case folding and letter normalisation (services/classifier/stems.py): a term written in any
script finds its inflected forms there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain

from services.classifier.stems import TermKeys, stemmed_language, word_keys
from shared.config import KeywordRules
from shared.text import distinct

_PLURAL = r"(?:s|es|'s|’s)?"


def _inflected(word: str) -> str:
    """A regex for the last word of a term, with its simple inflections."""
    if len(word) < 4 or not word.isalpha():
        return re.escape(word) + _PLURAL
    if word.endswith("e"):
        return re.escape(word[:-1]) + r"(?:e|es|ed|ing|e's|e’s)"
    return re.escape(word) + rf"(?:{re.escape(word[-1])}?(?:ed|ing)|s|es|'s|’s)?"


def is_acronym(term: str) -> bool:
    """A term written in capitals (``US``, ``ABD``, ``США``): matched case-sensitively and exactly."""
    # isupper, not isalpha: Arabic letters have no case, so an Arabic term is a word, never an acronym.
    return term.upper() == term and any(char.isupper() for char in term)


def compile_term(term: str) -> re.Pattern[str]:
    """A pattern for one term: ``re:...`` is a raw regex; otherwise whole words with simple inflections."""
    if term.startswith("re:"):
        return re.compile(term[3:], re.IGNORECASE)
    words = term.split()
    if not words:
        raise ValueError("empty keyword term")
    if is_acronym(term):
        body = r"[\s\-]+".join(re.escape(word) for word in words)
        return re.compile(rf"(?<!\w){body}(?:'s|’s|s)?(?!\w)")
    body = r"[\s\-]+".join([*(re.escape(word) for word in words[:-1]), _inflected(words[-1].lower())])
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class KeywordMatch:
    """The outcome of a topic's keyword rules on one text."""

    any_terms: list[str]
    groups_matched: list[list[str]]
    vetoed_by: str | None

    @property
    def all_satisfied(self) -> bool:
        """True when there are ``all`` groups and each matched at least one term."""
        return bool(self.groups_matched) and all(self.groups_matched)

    @property
    def terms(self) -> list[str]:
        """Every positive term found, ``any`` terms first, without repeats."""
        return distinct([*self.any_terms, *(term for hits in self.groups_matched for term in hits)])


class KeywordMatcher:
    """Compiled keyword rules of one topic."""

    def __init__(self, rules: KeywordRules) -> None:
        self._any = [(term, compile_term(term)) for term in rules.any_]
        self._all = [[(term, compile_term(term)) for term in group] for group in rules.all_]
        self._none = [(term, compile_term(term)) for term in rules.none]
        self._needles = {term: term_needle(term) for term in [*rules.any_, *rules.none, *chain(*rules.all_)]}
        self._keys: dict[str, dict[str, TermKeys]] = {}  # language -> term -> its word keys, built at first use

    def _term_keys(self, language: str) -> dict[str, TermKeys]:
        if language not in self._keys:
            terms = {term for term, _ in [*self._any, *(pair for group in self._all for pair in group), *self._none]}
            self._keys[language] = {
                term: TermKeys(term, language) for term in terms if not term.startswith("re:") and not is_acronym(term)
            }
        return self._keys[language]

    @property
    def has_any(self) -> bool:
        """True when the topic has ``any`` terms."""
        return bool(self._any)

    @property
    def group_count(self) -> int:
        """Number of ``all`` groups."""
        return len(self._all)

    def match(self, text: str, language: str | None = None) -> KeywordMatch:
        """Apply the rules to ``text``, in ``language`` (English rules alone when None or English)."""
        folded = fold_for_needles(text)
        needles = self._needles

        def regex_hit(term: str, pattern: re.Pattern[str], text: str) -> bool:
            # The substring test first: most terms (other scripts, other words) are absent, and `in` costs a
            # tenth of a regex search; a term whose needle is absent cannot match (term_needle says why).
            needle = needles[term]
            return (needle is None or needle.found_in(text, folded)) and pattern.search(text) is not None

        if language is None or not stemmed_language(language):
            hit = regex_hit
        else:
            keys, text_keys = self._term_keys(language), word_keys(text, language)

            def hit(term: str, pattern: re.Pattern[str], text: str) -> bool:
                found = term in keys and keys[term].found_in(text_keys)
                return found or regex_hit(term, pattern, text)

        found = [term for term, pattern in self._any if hit(term, pattern, text)]
        groups = [[term for term, pattern in group if hit(term, pattern, text)] for group in self._all]
        veto = next((term for term, pattern in self._none if hit(term, pattern, text)), None)
        return KeywordMatch(found, groups, veto)


# Letters Python's case-insensitive regex matching treats as another letter that str.lower() does not give
# (re/_casefix.py's table, Greek left out: needles never hold Greek): Turkish dotted and dotless i, the long s, old
# Cyrillic letter forms and an st ligature. İ is here for another reason too: its lower() is two characters.
_REGEX_FOLDS = str.maketrans(
    {"İ": "i", "ı": "i", "ſ": "s", "ẛ": "ṡ", "ᲀ": "в", "ᲁ": "д", "ᲂ": "о", "ᲃ": "с", "ᲄ": "т", "ᲅ": "т", "ᲆ": "ъ"}
    | {"ᲇ": "ѣ", "ᲈ": "ꙋ", "ﬅ": "ﬆ"}
)


@dataclass(frozen=True)
class Needle:
    """A piece every match of a term must contain: the prefilter in front of its regex."""

    text: str
    case_sensitive: bool  # acronyms: exact case

    def found_in(self, text: str, folded: str) -> bool:
        """False only when the term cannot match ``text`` (``folded``: ``fold_for_needles(text)``)."""
        return self.text in (text if self.case_sensitive else folded)


def fold_for_needles(text: str) -> str:
    """The text as case-insensitive needles are compared with: the regex's extra case pairs folded, then lower()."""
    return text.translate(_REGEX_FOLDS).lower()


def term_needle(term: str) -> Needle | None:
    """The literal start every match of ``term`` contains, or None (a ``re:`` term, or no safe literal): search it."""
    words = term.split()
    if term.startswith("re:") or not words:
        return None
    if is_acronym(term):
        return Needle(words[0], case_sensitive=True)
    # compile_term writes the first word literally; a one-word term's e may be dropped (collide -> colliding).
    folded = fold_for_needles(words[0])
    if len(words) == 1 and len(folded) >= 4 and folded.isalpha() and folded.endswith("e"):
        folded = folded[:-1]
    # Only in scripts where lower() then compares as the regex does (Latin, Cyrillic, Arabic); Greek has final
    # sigma and symbol variants, ß and a few ligatures fold to several letters: such a term is always searched.
    if not folded or not all(_plain_letter(char) for char in folded):
        return None
    return Needle(folded, case_sensitive=False)


def _plain_letter(char: str) -> bool:
    """A character of Latin (but ß), Cyrillic or Arabic, or ASCII: its lower case is the one the regex compares."""
    code = ord(char)
    return char.isascii() or (
        (0xC0 <= code <= 0x24F or 0x400 <= code <= 0x52F or 0x600 <= code <= 0x6FF or 0x750 <= code <= 0x77F)
        and char != "ß"
    )

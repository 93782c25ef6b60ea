"""Keyword rules: whole-word, case-insensitive terms with simple plurals, phrases, and ``re:`` regexes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.config import KeywordRules


def compile_term(term: str) -> re.Pattern[str]:
    """A pattern for one term: ``re:...`` is a raw regex; otherwise words match whole, with s/es plurals."""
    if term.startswith("re:"):
        return re.compile(term[3:], re.IGNORECASE)
    words = [re.escape(word) for word in term.split()]
    body = r"[\s\-]+".join(words)
    return re.compile(rf"(?<!\w){body}(?:s|es|'s)?(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class KeywordMatch:
    """The outcome of a topic's keyword rules on one text."""

    any_terms: list[str]
    all_satisfied: bool
    vetoed_by: str | None

    @property
    def terms(self) -> list[str]:
        """Every positive term found."""
        return self.any_terms


class KeywordMatcher:
    """Compiled keyword rules of one topic."""

    def __init__(self, rules: KeywordRules) -> None:
        self._any = [(term, compile_term(term)) for term in rules.any_]
        self._all = [[(term, compile_term(term)) for term in group] for group in rules.all_]
        self._none = [(term, compile_term(term)) for term in rules.none]

    def match(self, text: str) -> KeywordMatch:
        """Apply the rules to ``text``."""
        found = [term for term, pattern in self._any if pattern.search(text)]
        group_hits = [[term for term, pattern in group if pattern.search(text)] for group in self._all]
        all_ok = bool(self._all) and all(group_hits)
        for hits in group_hits:
            found += [term for term in hits if term not in found]
        veto = next((term for term, pattern in self._none if pattern.search(text)), None)
        return KeywordMatch(found, all_ok, veto)

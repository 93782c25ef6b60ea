"""Keyword rules: whole words, simple inflections, acronyms, phrases, regexes and vetoes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.classifier.keywords import KeywordMatcher, Needle, compile_term, fold_for_needles, term_needle
from shared.config import ConfigError, KeywordRules, load_config_file


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("intercept", "Russian jets intercepted two bombers"),
        ("intercept", "the intercepts continued"),
        ("patrol", "troops patrolled the road"),
        ("patrol", "they were patrolling the highway"),
        ("collide", "a jet colliding with a drone"),
        ("collide", "the aircraft collided"),
        ("joint patrol", "Joint-patrols resumed on Monday"),
        ("Black Sea", "over the black sea on Tuesday"),
        ("US", "US-led coalition forces"),
        ("U.S.", "a U.S. drone crashed"),
        ("re:Su-\\d+", "a Su-27 was scrambled"),
    ],
)
def test_term_matches(term: str, text: str):
    assert compile_term(term).search(text)


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("US", "he told us about it"),  # an acronym is case-sensitive: never the pronoun
        ("US", "they used drones"),
        ("ram", "a ramp on the road"),  # whole words only
        ("patrol", "the patroller"),
        ("joint patrol", "joint exercises and a patrol boat"),
    ],
)
def test_term_does_not_match(term: str, text: str):
    assert not compile_term(term).search(text)


def test_all_groups_any_terms_and_veto():
    rules = KeywordRules.model_validate(
        {"any": ["Qamishli", "standoff"], "all": [["US", "American"], ["Russia", "Russian"]], "none": ["police patrol"]}
    )
    matcher = KeywordMatcher(rules)
    found = matcher.match("American and Russian troops in a standoff near Qamishli")
    assert found.all_satisfied and found.vetoed_by is None
    assert found.any_terms == ["Qamishli", "standoff"]
    assert found.terms == ["Qamishli", "standoff", "American", "Russian"]
    assert not matcher.match("Russian troops near Qamishli").all_satisfied
    assert matcher.match("A police patrol near Qamishli").vetoed_by == "police patrol"


def test_bad_regex_is_a_config_error_naming_the_field(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("topics:\n  t:\n    examples: [x]\n    keywords: {any: ['re:(unclosed']}\n")
    with pytest.raises(ConfigError) as error:
        load_config_file(path, {})
    assert "topics.t.keywords.any" in str(error.value)
    assert "not a valid regular expression" in str(error.value)


def test_missing_model_folder_is_a_config_error(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(f"classifier:\n  model_path: {tmp_path / 'nope'}\n")
    with pytest.raises(ConfigError) as error:
        load_config_file(path, {})
    assert "classifier.model_path" in str(error.value) and "is not a folder" in str(error.value)


# Letters where Python's case-insensitive matching and str.lower() disagree, and the scripts the shipped terms use.
_TRICKY = "iIİıKkſsSẛṡвᲀтᲄᲅоᲂ" + "ДерикКамышлы" + "القامشليديريك" + "KamışlıİdlibĞğŞş" + "patrolUSjet -'."
_TERMS = ["Kamışlı", "İdlib", "IDLIB", "idlib", "kiss", "sky", "вот", "Дерик", "القامشلي", "US", "patrol", "collide",
          "joint patrol", "Black Sea", "re:Su-\\d+", "şık", "ıdlıb"]  # fmt: skip


@given(st.text(alphabet=_TRICKY, max_size=40), st.sampled_from(_TERMS), st.sampled_from([None, "tr", "ru", "ar"]))
@settings(max_examples=400, deadline=None)
def test_the_needle_prefilter_never_drops_a_match(text: str, term: str, language: str | None):
    rules = KeywordRules.model_validate({"any": [term]})
    filtered, unfiltered = KeywordMatcher(rules), KeywordMatcher(rules)
    unfiltered._needles = dict.fromkeys(unfiltered._needles)  # no prefilter: every term searched
    assert filtered.match(text, language) == unfiltered.match(text, language)


def test_the_fold_table_covers_every_extra_case_pair_of_the_regex_engine_outside_greek():
    # re's own table of letters it compares beyond str.lower() (private, so this test guards a Python upgrade).
    from re import _casefix  # type: ignore[attr-defined]

    for code, others in _casefix._EXTRA_CASES.items():
        group = [chr(code), *map(chr, others)]
        if any(0x370 <= ord(char) <= 0x3FF or 0x1F00 <= ord(char) <= 0x1FFF for char in group) or chr(0x345) in group:
            continue  # Greek: needles never hold Greek letters (term_needle)
        assert len({fold_for_needles(char) for char in group}) == 1, group


def test_terms_in_greek_or_with_sharp_s_have_no_needle_and_are_always_searched():
    assert term_needle("Straße") is None and term_needle("Σύρια") is None and term_needle("re:x") is None
    assert term_needle("US") == Needle("US", case_sensitive=True)
    assert term_needle("collide") == Needle("collid", case_sensitive=False)

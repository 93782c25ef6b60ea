"""Keyword rules: whole words, simple inflections, acronyms, phrases, regexes and vetoes."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classifier.keywords import KeywordMatcher, compile_term
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

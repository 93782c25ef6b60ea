"""Kurdish in both written standards: dialect told apart, letters folded, terms matched inflected (no model)."""

from __future__ import annotations

import pytest

from services.classifier.evaluation import load_labeled
from services.classifier.keywords import KeywordMatcher
from services.classifier.scoring import keyword_evidence
from services.classifier.stems import word_keys
from shared.config import KeywordRules, TripwireConfig
from shared.language import detect_language, item_language, kurdish_dialect, language_name, normalize_language
from tests.conftest import REPO_ROOT

KURMANJI_PATROL = "Dewriyeya hevpar a Rûsya û Tirkiyê li ser rêya M4 hat kirin."
SORANI_PATROL = "دەوریەی هاوبەشی ڕووسیا و تورکیا لە سەر ڕێگای ئێم 4 ئەنجامدرا"
KURDISH_SET = REPO_ROOT / "data/eval/kurdish.jsonl"


def terms(text: str, *any_terms: str) -> list[str]:
    return KeywordMatcher(KeywordRules.model_validate({"any": list(any_terms)})).match(text, "ku").terms


def test_both_dialects_are_kurdish_and_told_apart():
    assert detect_language(KURMANJI_PATROL) == "ku" and kurdish_dialect(KURMANJI_PATROL) == "kmr"
    assert detect_language(SORANI_PATROL) == "ku" and kurdish_dialect(SORANI_PATROL) == "ckb"
    # Arabic and Persian write none of ە ێ ۆ ڕ ڵ: they stay themselves.
    assert detect_language("مقاتلة روسية تعترض طائرة مسيّرة أمريكية فوق سوريا") == "ar"
    assert detect_language("هواپیمای روسی یک پهپاد آمریکایی را بر فراز دریای سیاه رهگیری کرد") == "fa"
    assert language_name("ku", SORANI_PATROL) == "Kurdish (Sorani)"
    assert language_name("ku", KURMANJI_PATROL) == "Kurdish (Kurmanji)"


def test_a_quoted_sorani_name_does_not_make_a_text_kurdish():
    # It would get Kurdish's lower threshold, whole keyword evidence and place-only story grouping.
    english = "Russian and US convoys met near Qamishli, the Kurdish outlet Kurdistan24 (هەولێر) reported"
    assert detect_language(english) != "ku"  # English, or too mixed to tell (then scored as English)
    assert detect_language("اعترضت دورية روسية قافلة أمريكية قرب القامشلي، بحسب موقع هەولێر") == "ar"


@pytest.mark.parametrize(
    ("declared", "code"),
    [("ckb", "ku"), ("kmr", "ku"), ("ku-Arab", "ku"), ("KU_IQ", "ku"), ("sdh", "ku"), ("ru-RU", "ru"), ("arz", "ar")],
)
def test_declared_codes_of_kurdish_and_regional_tags_are_normalised(declared: str, code: str):
    assert normalize_language(declared) == code
    assert item_language(declared, "x", "") == code


def test_sorani_letters_and_digits_fold_to_one_spelling():
    # Arabic kaf and ya, final ha, doubled ya and waw, rr and ll, Arabic-Indic digits, the zero-width non-joiner.
    assert word_keys("ئەمريكا دەورییەی ڕووسیا ئێم ٤ دەوریه‌ی", "ku") == word_keys(
        "ئەمریکا دەوریەی روسیا ئێم 4 دەوریەی", "ku"
    )
    assert word_keys("Rûsya Tirkiyê Îdlib Qamişlo", "ku") == ["rusya", "tirkiye", "idlib", "qamislo"]


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("dewriye", "Dewriyeya hevpar"),
        ("dewriye", "dewriyeyên Rûsî"),
        ("dewriye hevpar", "dewriyeya hevpar a Rûsya"),
        ("hevpar", "dewriyeyeke hevpar kirin"),
        ("Rûsya", "bi Rûsyayê re"),
        ("Rûsya", "Rusya"),  # without circumflex
        ("Tirk", "Tirkiyê"),
        ("Amerîka", "Amerîkayê"),
        ("Îdlib", "li nêzî Idlibê"),
        ("Dêrik", "li Dêrikê"),
        ("Qamişlo", "Qamişloyê"),
        ("دەوریە", "دەورییەی هاوبەش"),
        ("دەوریە هاوبەش", "دەوریەی هاوبەشی ڕووسیا"),
        ("هاوبەش", "دەوریە هاوبەشەکانی"),
        ("ڕووسیا", "روسیای"),
        ("تورک", "تورکیا"),
        ("ئەمریکا", "ئەمریكا"),  # Arabic kaf
        ("ڕێگای ئێم 4", "لەسەر ڕێگای ئێم ٤"),
        ("M4", "ڕێگای M4"),
    ],
)
def test_kurdish_terms_match_inflected_forms(term: str, text: str):
    assert terms(text, term) == [term]


@pytest.mark.parametrize(("term", "text"), [("Rûs", "rûspî"), ("dewriye", "dewr"), ("تورک", "تور")])
def test_kurdish_terms_do_not_match_other_words(term: str, text: str):
    assert terms(text, term) == []


@pytest.mark.parametrize("text", [KURMANJI_PATROL, SORANI_PATROL])
def test_the_issue_examples_have_keyword_evidence_for_joint_patrol(text: str, default_config: TripwireConfig):
    # Before: "dewriye" was listed but the 'joint' group had no Kurmanji "hevpar" and no Sorani term at all, so
    # the 'all' part was 0 and the evidence 0.000.
    topic = default_config.topics["joint_patrol"]
    matcher = KeywordMatcher(topic.keywords)
    match = matcher.match(text, detect_language(text))
    assert match.all_satisfied, match
    assert keyword_evidence(match, matcher, topic.weights) >= 0.8


def test_the_kurdish_set_has_both_dialects_with_reports_and_near_misses():
    items = load_labeled(KURDISH_SET, {"us_russia_standoff", "joint_patrol"})
    for dialect in ("kmr", "ckb"):
        rows = [item for item in items if item.dialect == dialect]
        assert len(rows) >= 25 and all(item.lang == "ku" for item in rows)
        assert sum(1 for item in rows if item.labels) >= 12 and sum(1 for item in rows if not item.labels) >= 12
        assert all(kurdish_dialect(item.text) == dialect and detect_language(item.text) == "ku" for item in rows)

"""Languages: detection, keyword terms in any script, sentence splitting, routing and per-language figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from services.classifier.evaluation import LabeledItem, evaluate_by_language, languages_json, load_labeled
from services.classifier.keywords import KeywordMatcher
from services.classifier.routing import ENGLISH, MULTILINGUAL, embedding_space, resolve_languages
from services.classifier.scoring import Scorer, split_sentences
from services.poller.parse import parse_feed
from shared.config import ConfigError, KeywordRules, TopicConfig, load_config_file
from shared.language import detect_language, item_language
from shared.text import fold_case, normalize_arabic


def terms(text: str, language: str | None, *any_terms: str) -> list[str]:
    return KeywordMatcher(KeywordRules.model_validate({"any": list(any_terms)})).match(text, language).terms


@pytest.mark.parametrize(
    ("term", "text", "language"),
    [
        ("Дерик", "Колонна остановилась у Дерика", "ru"),  # Russian case ending
        ("российский", "колонна российского военного патруля", "ru"),
        ("совместный патруль", "провели совместного патруля", "ru"),
        ("Черное море", "над Чёрным морем", "ru"),  # ё folded to е, instrumental case
        ("devriye", "Türk-Rus ortak devriyesini", "tr"),  # Turkish suffix
        ("Kamışlı", "Kamışlı'nın doğusunda", "tr"),  # apostrophe before the suffix
        ("İdlib", "IDLIB kırsalında", "tr"),  # dotless I in upper case folds to the same word
        ("Idlib", "İdlib'de", "tr"),
        ("Kamışlı", "Kamisli yakınlarında", "tr"),  # ASCII spelling
        ("القامشلي", "رتل روسي بالقامشلي", "ar"),  # bi- + al-
        ("القامشلي", "وقال مسؤول والقامشلي هادئة", "ar"),  # wa- + al-
        ("أمريكي", "الجنود الأمريكيين", "ar"),  # plural, hamza on alef
        ("دورية", "الدوريات المشتركة", "ar"),
        ("مسيّرة", "طائرة مسيرة", "ar"),  # shadda dropped
        ("مشتركة", "دورية مشتركه", "ar"),  # taa marbuta written as ha
        ("Dêrik", "li nêzî Dêrikê", "ku"),  # Kurmanji suffix
    ],
)
def test_terms_match_inflected_forms(term: str, text: str, language: str):
    assert terms(text, language, term) == [term]


@pytest.mark.parametrize(
    ("term", "text", "language"),
    [
        ("ديريك", "دير الزور", "ar"),  # Derik is not Deir ez-Zor
        ("ram", "Ramazan ayında", "tr"),  # short words match only themselves
        ("Rus", "Rusça öğreniyor", "tr"),
        ("ABD", "abd", "tr"),  # acronyms stay case-sensitive
        ("патруль", "патрульный", "ru"),  # a different word, not an inflection
    ],
)
def test_terms_do_not_match_other_words(term: str, text: str, language: str):
    assert terms(text, language, term) == []


def test_english_text_keeps_the_english_rules():
    assert terms("Convoys of the US patrolled", "en", "patrol") == ["patrol"]
    assert terms("Convoys of the US patrolled", None, "patrol") == ["patrol"]
    assert terms("Российский патруль", "en", "патруль") == ["патруль"]  # whole word, exact form only
    assert terms("Российского патруля", "en", "патруль") == []


def test_folding_turkish_i_and_arabic_letters():
    assert fold_case("IRAK İDLİB", "tr") == "ırak idlib"
    assert fold_case("IRAK", "en") == "irak"
    assert fold_case("Ёлка", "ru") == "елка"
    assert normalize_arabic("أإآٱ ى ة ـ مُسَيَّرَة") == "اااا ي ه  مسيره"


def test_sentences_split_in_cyrillic_arabic_and_turkish():
    assert split_sentences("Российский патруль остановил колонну США. «Это провокация», заявили в Пентагоне.") == [
        "Российский патруль остановил колонну США.",
        "«Это провокация», заявили в Пентагоне.",
    ]
    arabic = "أغلقت عربات أمريكية الطريق شرق القامشلي. وقال مسؤول إن الرتل الروسي عاد أدراجه؟ انتهى التوتر بعد ساعات."
    assert len(split_sentences(arabic)) == 3
    assert len(split_sentences("Rus zırhlıları yolu kesti. İki ülkenin askerleri saatlerce bekledi.")) == 2
    assert split_sentences("Officials said the U.S. troops left the base. approx. it ended there.") == [
        "Officials said the U.S. troops left the base. approx. it ended there."
    ]


def test_language_detected_offline_or_declared_by_the_feed():
    assert detect_language("Российский истребитель перехватил американский беспилотник над Черным морем") == "ru"
    assert detect_language("مقاتلة روسية تعترض طائرة مسيّرة أمريكية فوق سوريا") == "ar"
    assert detect_language("Rus askeri polisi Derik yakınlarında ABD konvoyunun yolunu kesti") == "tr"
    assert detect_language("US and Russian convoys blocked each other on a road near Derik") == "en"
    assert detect_language("US jet") is None  # too short to tell
    assert detect_language("   ") is None
    assert item_language("AR", "US jet", "") == "ar"  # the feed's declaration wins


def test_poller_items_carry_the_declared_or_detected_language():
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>\xd0\xa0\xd0\xbe\xd1\x81\xd1\x81\xd0\xb8\xd0\xb9\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9 "
        b"\xd0\xbf\xd0\xb0\xd1\x82\xd1\x80\xd1\x83\xd0\xbb\xd1\x8c \xd0\xbe\xd1\x81\xd1\x82\xd0\xb0\xd0\xbd"
        b"\xd0\xbe\xd0\xb2\xd0\xb8\xd0\xbb \xd0\xba\xd0\xbe\xd0\xbb\xd0\xbe\xd0\xbd\xd0\xbd\xd1\x83</title>"
        b"<link>https://example.org/1</link></item></channel></rss>"
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    detected = parse_feed(feed, {}, "https://example.org/feed", now).items[0]
    declared = parse_feed(feed, {}, "https://example.org/feed", now, language="uk").items[0]
    assert (detected.language, declared.language) == ("ru", "uk")


def test_routing_keeps_english_and_unknown_on_the_english_model():
    assert embedding_space("en", multilingual=True) == ENGLISH
    assert embedding_space(None, multilingual=True) == ENGLISH
    assert embedding_space("pcm", multilingual=True) == ENGLISH  # a language USE-m3 does not know
    assert embedding_space("ru", multilingual=True) == MULTILINGUAL
    assert embedding_space("ru", multilingual=False) == ENGLISH
    assert resolve_languages(["Российский патруль остановил колонну", "x"], [None, "tr"]) == ["ru", "tr"]
    with pytest.raises(ValueError, match="2 languages for 1 texts"):
        resolve_languages(["x"], ["en", "en"])


def test_per_language_thresholds_are_validated(tmp_path: Path):
    topic = TopicConfig(examples=["x"], threshold=0.6, thresholds={"ru": 0.45})
    assert (topic.threshold_for("ru"), topic.threshold_for("ar"), topic.threshold_for(None)) == (0.45, 0.6, 0.6)
    path = tmp_path / "c.yaml"
    path.write_text("topics:\n  t:\n    examples: [x]\n    thresholds: {Russian: 0.4}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a language code"):
        load_config_file(path, {})


def test_figures_per_language(tmp_path: Path):
    path = tmp_path / "set.jsonl"
    path.write_text(
        '{"title": "a", "labels": ["t"], "lang": "RU"}\n{"title": "b", "labels": [], "lang": "ru"}\n'
        '{"title": "c", "labels": ["t"], "lang": "ar"}\n{"title": "d", "labels": []}\n',
        encoding="utf-8",
    )
    items = load_labeled(path, {"t"})
    assert [item.lang for item in items] == ["ru", "ru", "ar", None]
    scores = np.array([[0.9], [0.5], [0.3], [0.1]])
    thresholds = np.array([[0.4], [0.4], [0.4], [0.6]])
    reports = {r.language: r for r in evaluate_by_language(scores, thresholds, items, ["t"])}
    assert set(reports) == {"ar", "ru", "(none)"}
    assert (reports["ru"].topics["t"].tp, reports["ru"].topics["t"].fp) == (1, 1)
    assert reports["ar"].topics["t"].fn == 1
    assert languages_json(list(reports.values()))["ru"]["items"] == 2
    assert evaluate_by_language(scores, thresholds, [LabeledItem("x", "", frozenset())] * 4, ["t"]) == []


def test_bad_lang_field_names_the_line(tmp_path: Path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"title": "a", "labels": [], "lang": 3}\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"set.jsonl:1: lang"):
        load_labeled(path, set())


def test_metrics_count_items_per_language():
    from services.classifier.scoring import TopicScore
    from services.classifier.service import _observe
    from shared.metrics import ITEMS_BY_LANGUAGE
    from shared.schemas import Reasons

    def row(language: str | None) -> list[TopicScore]:
        return [TopicScore("t", 0.1, 0.5, Reasons(score=0.1, threshold=0.5), language)]

    before = {code: ITEMS_BY_LANGUAGE.labels(code)._value.get() for code in ("ar", "unknown")}
    _observe([row("ar"), row("ar"), row(None)])
    assert ITEMS_BY_LANGUAGE.labels("ar")._value.get() == before["ar"] + 2
    assert ITEMS_BY_LANGUAGE.labels("unknown")._value.get() == before["unknown"] + 1


def test_a_feed_of_thousands_of_entries_leaves_detection_to_the_classifier():
    from services.poller.parse import MAX_DETECTED_ENTRIES

    entry = "<item><title>Российский патруль остановил колонну номер {n}</title><link>https://e.org/{n}</link></item>"
    body = "".join(entry.format(n=n) for n in range(MAX_DETECTED_ENTRIES + 1))
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()
    items = parse_feed(feed, {}, "https://e.org/feed", datetime(2026, 12, 1, tzinfo=UTC)).items
    assert len(items) == MAX_DETECTED_ENTRIES + 1 and {item.language for item in items} == {None}


def test_score_output_names_the_language():
    from services.classifier.report import format_scores
    from services.classifier.scoring import TopicScore
    from shared.schemas import Reasons

    result = TopicScore("t", 0.7, 0.45, Reasons(score=0.7, threshold=0.45), "ru", True)
    assert format_scores([result]).splitlines()[0] == "language: Russian (ru)"
    unknown = TopicScore("t", 0.1, 0.5, Reasons(score=0.1, threshold=0.5))
    assert format_scores([unknown]).splitlines()[0] == "language: unknown language (scored as English)"


class _Directions:
    """A stand-in embedder: each known text is a fixed unit vector, so a test sets similarities exactly."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = np.array([self.vectors[text] for text in texts], dtype=np.float32).reshape(len(texts), 3)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _meaning_scorer() -> Scorer:
    topic = TopicConfig(
        examples=["example"],
        counter_examples=["near miss"],
        keywords=KeywordRules.model_validate({"all": [["США"], ["патруль"]], "none": ["учения"]}),
        threshold=0.6,
        thresholds={"ar": 0.45, "ru": 0.45},
        meaning_thresholds={"ar": 0.62},
    )

    def at(similarity: float) -> list[float]:
        return [similarity, 0.0, (1 - similarity**2) ** 0.5]

    vectors = {"example": [1.0, 0.0, 0.0], "near miss": [0.0, 1.0, 0.0], "clear": at(0.7), "vague": at(0.6)}
    vectors["учения clear"] = at(0.7)
    fake = _Directions(vectors)
    return Scorer({"t": topic}, fake, fake)


def test_an_item_alerts_on_its_meaning_alone_where_its_language_has_a_meaning_threshold():
    scorer = _meaning_scorer()
    [[clear_ar], [clear_ru], [vague_ar]] = scorer.score_texts(["clear", "clear", "vague"], ["ar", "ru", "ar"])
    # No keyword at all: 0.6 * 0.7 = 0.42 misses 0.45, but the semantic part 0.7 reaches ar's meaning threshold 0.62.
    assert clear_ar.matched and clear_ar.reasons.meaning_only and clear_ar.reasons.meaning_threshold == 0.62
    assert clear_ar.score == pytest.approx(0.7 - (0.62 - 0.45), abs=1e-4)  # on the threshold's scale
    assert not clear_ru.matched and not clear_ru.reasons.meaning_only and clear_ru.reasons.meaning_threshold is None
    assert not vague_ar.matched and vague_ar.score == pytest.approx(0.6 - 0.17, abs=1e-4)  # above the blend 0.36
    assert all(r.matched == (r.score >= r.threshold) for r in (clear_ar, clear_ru, vague_ar))  # one rule: eval sweeps
    [[vetoed]] = scorer.score_texts(["учения clear"], ["ar"])
    assert vetoed.score == 0 and not vetoed.matched and not vetoed.reasons.meaning_only


def test_a_meaning_threshold_needs_the_languages_own_threshold():
    with pytest.raises(ValueError, match="meaning_thresholds: tr need their own threshold"):
        TopicConfig(examples=["x"], thresholds={"ar": 0.45}, meaning_thresholds={"ar": 0.6, "tr": 0.6})
    with pytest.raises(ValueError, match="not between 0 and 1"):
        TopicConfig(examples=["x"], thresholds={"ar": 0.45}, meaning_thresholds={"ar": 1.5})
    assert (
        TopicConfig(examples=["x"], thresholds={"ar": 0.45}, meaning_thresholds={"ar": 0.6}).meaning_threshold_for("ar")
        == 0.6
    )


class _Counting(_Directions):
    """A stand-in multilingual model that records every text it was asked to embed."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        super().__init__(vectors)
        self.asked: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        return super().encode(texts)


def test_the_multilingual_model_is_asked_nothing_until_a_text_needs_it():
    # README, "Embedding backends": an English stream never loads USE-m3 or embeds the multilingual examples.
    vectors = {"example": [1.0, 0.0, 0.0], "near miss": [0.0, 1.0, 0.0], "english": [0.9, 0.1, 0.0]}
    vectors["русский текст"] = [0.8, 0.2, 0.1]
    english, multilingual = _Directions(vectors), _Counting(vectors)
    topic = TopicConfig(examples=["example"], counter_examples=["near miss"], threshold=0.5)
    scorer = Scorer({"t": topic}, english, multilingual)
    scorer.score_texts_pruned(["english"], languages=["en"])
    assert multilingual.asked == []
    scorer.score_texts_pruned(["русский текст"], languages=["ru"])
    scorer.score_texts_pruned(["русский текст"], languages=["ru"])
    assert multilingual.asked.count("example") == 1  # the topic's vectors embedded once, at the first Russian text


def test_keyword_evidence_keeps_its_share_of_a_languages_lower_threshold():
    from services.classifier.scoring import keyword_share

    # A language with a meaning route: 0.4 of weight counts 0.4 * 0.45 / 0.62, so full keyword evidence with no
    # meaning stays as far below 0.45 as it is below 0.62 in English.
    assert keyword_share(0.45, 0.62, 0.66) == pytest.approx(0.45 / 0.62)
    assert keyword_share(0.375, 0.62, None) == 1.0  # Kurdish: the model does not know it; the terms count whole
    assert keyword_share(0.62, 0.62, None) == keyword_share(0.7, 0.62, 0.8) == 1.0


def test_figures_per_dialect_and_false_alarms_per_1000(tmp_path: Path):
    from services.classifier.report import format_languages

    path = tmp_path / "set.jsonl"
    rows = [
        '{"title": "a", "labels": ["t"], "lang": "ku", "dialect": "kmr"}',
        '{"title": "b", "labels": [], "lang": "ku", "dialect": "kmr"}',
        '{"title": "c", "labels": [], "lang": "ku", "dialect": "ckb"}',
        '{"title": "d", "labels": [], "lang": "ku", "dialect": "ckb"}',
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = load_labeled(path, {"t"})
    scores, thresholds = np.array([[0.9], [0.1], [0.6], [0.1]]), np.full((4, 1), 0.4)
    reports = {r.language: r for r in evaluate_by_language(scores, thresholds, items, ["t"])}
    assert set(reports) == {"ku", "ku/kmr", "ku/ckb"}
    assert (reports["ku"].any_topic.fp, reports["ku"].false_alarms_per_1000) == (1, pytest.approx(1000 / 3))
    assert reports["ku/ckb"].false_alarms_per_1000 == 500.0 and reports["ku/kmr"].false_alarms_per_1000 == 0.0
    assert "false alarms 1 of 2 items on no topic: 500.00 per 1,000" in format_languages([reports["ku/ckb"]])
    assert languages_json([reports["ku"]])["ku"]["false_alarms_per_1000"] == pytest.approx(333.33)

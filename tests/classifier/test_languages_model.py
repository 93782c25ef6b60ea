"""The shipped topics in every language, with the real models: F1 >= 0.9 per language (English:
tests/classifier/test_evaluation.py, with the same routed scorer), no more false alarms than English."""

from __future__ import annotations

import pytest

from services.classifier.evaluation import evaluate_by_language, load_labeled
from services.classifier.scoring import Scorer, score_matrix, threshold_matrix
from shared.config import TopicConfig, TripwireConfig
from tests.conftest import REPO_ROOT

SETS = [REPO_ROOT / "data/eval/multilingual.jsonl", REPO_ROOT / "data/eval/multilingual_holdout.jsonl"]
pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def scorer(embedder, multilingual_embedder, default_config: TripwireConfig) -> Scorer:  # type: ignore[no-untyped-def]
    return Scorer(default_config.topics, embedder, multilingual_embedder)


def test_the_labeled_sets_have_40_items_a_language_with_near_misses():
    items = load_labeled(SETS[0])
    for language in ("ru", "ar", "tr"):
        rows = [item for item in items if item.lang == language]
        assert len(rows) >= 40
        assert sum(1 for item in rows if not item.labels) * 3 >= len(rows)


def test_shipped_topics_reach_f1_09_in_each_language(scorer: Scorer, default_config: TripwireConfig):
    topics = list(default_config.topics)
    items = [item for path in SETS for item in load_labeled(path, set(topics))]
    results = scorer.score_texts([item.text for item in items], [item.lang for item in items])
    reports = evaluate_by_language(score_matrix(results), threshold_matrix(results), items, topics)
    figures = {report.language: report for report in reports}
    assert {"ru", "ar", "tr", "ku"} <= set(figures)
    # docs/guide/languages.md, "How well": the held-out set's 10 Kurdish items, every report found (6 of 6) and no
    # false alarm in the other 4.
    kurdish = figures["ku"].any_topic
    assert (kurdish.tp, kurdish.fn, kurdish.fp, kurdish.tn) == (6, 0, 0, 4), kurdish
    for language in ("ru", "ar", "tr"):
        for topic, point in figures[language].topics.items():
            assert point.f1 >= 0.9, (language, topic, point)
        assert figures[language].any_topic.recall >= 0.9, (language, figures[language].any_topic)
    # English: 1 false alarm in 88 near misses and unrelated items (data/eval/topics.jsonl); at most that rate here.
    negatives = len([i for i in items if i.lang in ("ru", "ar", "tr") and not i.labels])
    false_alarms = sum(figures[language].any_topic.fp for language in ("ru", "ar", "tr"))
    assert false_alarms <= round(negatives / 88), (false_alarms, negatives)


def test_the_issue_example_alerts_and_says_why(scorer: Scorer):
    text = "Российский истребитель перехватил американский беспилотник над Черным морем"
    [result] = [r for r in scorer.score_texts([text])[0] if r.topic == "us_russia_standoff"]
    assert result.language == "ru" and result.matched, result.reasons
    assert {"перехват", "Черное море", "американский"} <= set(result.reasons.keywords)


def test_items_are_scored_by_their_language(scorer: Scorer):
    from datetime import UTC, datetime

    from shared.schemas import FeedRef, Item

    now = datetime(2026, 12, 1, tzinfo=UTC)
    title = "Rus askeri polisi Derik yakınlarında ABD konvoyunun yolunu kesti"
    item = Item(id="1", feed=FeedRef(url="https://example.org/f"), title=title, fetched_at=now, language="tr")
    scores, vectors = scorer.score_items_with_vectors([item])
    standoff = next(r for r in scores[0] if r.topic == "us_russia_standoff")
    assert standoff.matched and standoff.threshold == 0.45 and standoff.language_threshold
    assert vectors.shape == (1, 384)  # story clustering keeps the English model's vectors


def _ascii_terms_only(config: TripwireConfig) -> dict[str, TopicConfig]:
    """The shipped topics with only their ASCII (English) terms: as for a language whose terms nobody wrote yet."""

    def keep(terms: list[str]) -> list[str]:
        return [term for term in terms if term.isascii()]

    out = {}
    for name, topic in config.topics.items():
        rules = topic.keywords
        kept = rules.model_copy(
            update={"any_": keep(rules.any_), "all_": [keep(group) for group in rules.all_], "none": keep(rules.none)}
        )
        out[name] = topic.model_copy(update={"keywords": kept})
    return out


def test_reports_without_their_languages_terms_still_alert_on_meaning(  # type: ignore[no-untyped-def]
    embedder, multilingual_embedder, default_config: TripwireConfig
):
    # README, "Languages", "Without a language's own terms": measured on both sets, 53 of 76 Arabic and Russian
    # reports alert (17 before the meaning route), most on their meaning alone, Turkish 35 of 38, and no near miss does.
    scorer = Scorer(_ascii_terms_only(default_config), embedder, multilingual_embedder)
    items = [item for path in SETS for item in load_labeled(path, set(default_config.topics))]
    results = scorer.score_texts([item.text for item in items], [item.lang for item in items])
    alerted = [any(r.matched for r in row) for row in results]
    on_meaning = [n for n, row in enumerate(results) if any(r.matched and r.reasons.meaning_only for r in row)]
    assert len([n for n in on_meaning if items[n].lang in ("ar", "ru")]) >= 30, len(on_meaning)
    for languages, floor in ((("ar", "ru"), 0.69), (("tr",), 0.9)):
        reports = [n for n, item in enumerate(items) if item.lang in languages and item.labels]
        recall = sum(alerted[n] for n in reports) / len(reports)
        assert recall >= floor, (languages, recall)
    near_misses = [n for n, item in enumerate(items) if item.lang in ("ar", "ru", "tr") and not item.labels]
    assert not [items[n].title for n in near_misses if alerted[n]]


def test_multilingual_examples_leave_english_scores_alone(  # type: ignore[no-untyped-def]
    embedder, multilingual_embedder, default_config: TripwireConfig
):
    plain = {
        name: topic.model_copy(update={"multilingual_examples": [], "multilingual_counter_examples": []})
        for name, topic in default_config.topics.items()
    }
    text = "Russian jets buzzed a US destroyer in the Black Sea, the Pentagon said."
    with_examples = Scorer(default_config.topics, embedder, multilingual_embedder).score_texts([text], ["en"])[0]
    without = Scorer(plain, embedder, multilingual_embedder).score_texts([text], ["en"])[0]
    assert [r.reasons for r in with_examples] == [r.reasons for r in without]


def test_pruned_scoring_keeps_every_alert_of_the_meaning_route(  # type: ignore[no-untyped-def]
    embedder, multilingual_embedder, default_config: TripwireConfig
):
    # The service embeds sentences only for texts within SENTENCE_MARGIN of a threshold; the meaning route moves
    # one for one with the semantic part, and no sentence lifts that by the margin, so the alerts are the same.
    scorer = Scorer(_ascii_terms_only(default_config), embedder, multilingual_embedder)
    items = [item for path in SETS for item in load_labeled(path, set(default_config.topics))]
    texts, languages = [item.text for item in items], [item.lang for item in items]
    exact, pruned = scorer.score_texts(texts, languages), scorer.score_texts_pruned(texts, languages=languages)[0]
    assert [[r.matched for r in row] for row in pruned] == [[r.matched for r in row] for row in exact]
    assert any(r.matched and r.reasons.meaning_only for row in pruned for r in row)


def test_a_report_without_keywords_says_it_alerted_on_meaning(  # type: ignore[no-untyped-def]
    embedder, multilingual_embedder, default_config: TripwireConfig
):
    scorer = Scorer(_ascii_terms_only(default_config), embedder, multilingual_embedder)  # no Russian term left
    text = "Российский истребитель опасно приблизился к американскому беспилотнику над Сирией, и тот сменил курс"
    [result] = [r for r in scorer.score_texts([text], ["ru"])[0] if r.topic == "us_russia_standoff"]
    assert result.matched and result.reasons.meaning_only and not result.reasons.keywords, result.reasons
    assert result.reasons.semantic_score >= result.reasons.meaning_threshold  # type: ignore[operator]


SEALED = REPO_ROOT / "data/eval/multilingual_sealed.jsonl"


def test_the_sealed_set_holds_the_shipped_topics_to_its_first_scoring(  # type: ignore[no-untyped-def]
    scorer: Scorer, embedder, multilingual_embedder, default_config: TripwireConfig
):
    # data/eval/multilingual_sealed.jsonl was written without seeing the topics' config or the other sets and
    # scored once, after every threshold, term and example was set (README, "Languages"): these are those figures.
    topics = list(default_config.topics)
    items = load_labeled(SEALED, set(topics))
    texts, languages = [item.text for item in items], [item.lang for item in items]
    results = scorer.score_texts(texts, languages)
    figures = {
        r.language: r for r in evaluate_by_language(score_matrix(results), threshold_matrix(results), items, topics)
    }
    for language in ("ru", "ar", "tr"):
        assert figures[language].any_topic.recall >= 0.9, (language, figures[language].any_topic)
        for topic, point in figures[language].topics.items():
            assert point.f1 >= 0.9, (language, topic, point)
    # One false alarm in 42 near misses and unrelated items (Russian: Ukrainian drones downed over the Black Sea),
    # as many as English has in topics.jsonl's 88.
    assert sum(figures[language].any_topic.fp for language in ("ru", "ar", "tr")) <= 1
    plain = Scorer(_ascii_terms_only(default_config), embedder, multilingual_embedder).score_texts(texts, languages)
    alerted = [any(r.matched for r in row) for row in plain]
    for group, floor in ((("ar", "ru"), 0.59), (("tr",), 0.87)):
        reports = [n for n, item in enumerate(items) if item.lang in group and item.labels]
        assert sum(alerted[n] for n in reports) / len(reports) >= floor, group
    assert not [items[n].title for n, item in enumerate(items) if not item.labels and alerted[n]]

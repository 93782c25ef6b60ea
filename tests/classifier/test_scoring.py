"""Scoring with the real model: the right topic, explained, near misses held back, batches vectorised."""

from __future__ import annotations

import pytest

from services.classifier.scoring import Scorer, split_sentences, text_units
from shared.config import TopicConfig, TripwireConfig

pytestmark = [pytest.mark.model, pytest.mark.slow]

DERIK = (
    "US and Russian convoys block each other on road near Derik in north-east Syria. An American armored patrol and a "
    "Russian military convoy faced off for two hours on a highway outside Derik (al-Malikiyah) before both withdrew."
)
JOINT = (
    "Russian and Turkish troops hold joint patrol on M4 highway south of Idlib. Armored vehicles of both militaries "
    "drove a stretch of the highway under the ceasefire deal, the defence ministry said."
)
BURIED = (
    "Regional roundup: markets, weather and security. Grain prices rose on Tuesday and heavy rain is expected. "
    "Separately, a Russian fighter jet intercepted an American surveillance drone over the Black Sea, the Pentagon "
    "said. Schools reopen next week after the holidays."
)


@pytest.fixture(scope="module")
def scorer(embedder, default_config: TripwireConfig) -> Scorer:  # type: ignore[no-untyped-def]
    return Scorer(default_config.topics, embedder)


def by_topic(scorer: Scorer, text: str) -> dict[str, object]:
    return {result.topic: result for result in scorer.score_texts([text])[0]}


def test_derik_standoff_alerts_on_standoff_only(scorer: Scorer):
    results = by_topic(scorer, DERIK)
    standoff, joint = results["us_russia_standoff"], results["joint_patrol"]
    assert standoff.matched and not joint.matched  # type: ignore[attr-defined]
    reasons = standoff.reasons  # type: ignore[attr-defined]
    assert reasons.score >= reasons.threshold
    assert {"Derik", "al-Malikiyah", "US", "Russian", "convoy"} <= set(reasons.keywords)
    assert reasons.nearest_example and reasons.example_similarity > 0.5
    assert reasons.keyword_score == 1.0
    # A sentence is named even when the whole text matched best, so an analyst sees where to look.
    assert reasons.best_sentence in split_sentences(DERIK) and reasons.sentence_similarity is not None


def test_joint_patrol_alerts_on_joint_patrol_only(scorer: Scorer):
    results = by_topic(scorer, JOINT)
    assert results["joint_patrol"].matched and not results["us_russia_standoff"].matched  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        "US and Russian diplomats meet in Geneva for arms control talks. Both sides called the talks businesslike.",
        "Finnish jets shadow Russian transport plane near Helsinki. The air force said the plane left after an hour.",
        "Police increase patrols in town centre together with volunteers. Officers will walk the streets at night.",
        "Turkish drone strikes hit villages near Kobani. Kurdish officials said three fighters were killed.",
    ],
)
def test_near_misses_do_not_alert(scorer: Scorer, text: str):
    assert not any(result.matched for result in scorer.score_texts([text])[0])


def test_the_sentence_that_carries_the_story_is_reported(scorer: Scorer):
    standoff = by_topic(scorer, BURIED)["us_russia_standoff"]
    assert standoff.matched  # type: ignore[attr-defined]
    assert "intercepted an American surveillance drone" in standoff.reasons.best_sentence  # type: ignore[attr-defined]
    assert standoff.reasons.sentence_similarity == standoff.reasons.example_similarity  # type: ignore[attr-defined]


def test_keywords_alone_never_reach_the_threshold(embedder):  # type: ignore[no-untyped-def]
    topic = TopicConfig.model_validate(
        {"examples": ["A recipe for sourdough bread with a long fermentation."], "threshold": 0.5,
         "keywords": {"any": ["Derik", "Qamishli"], "all": [["US"], ["Russian"]]}}
    )  # fmt: skip
    result = Scorer({"t": topic}, embedder).score_texts(["US and Russian officials visit Derik and Qamishli"])[0][0]
    assert result.reasons.keyword_score == 1.0
    assert not result.matched
    assert result.score <= topic.weights.keywords + (1 - topic.weights.keywords) * result.reasons.semantic_score + 1e-6


def test_none_term_vetoes(embedder, default_config: TripwireConfig):  # type: ignore[no-untyped-def]
    topic = default_config.topics["joint_patrol"]
    result = Scorer({"joint_patrol": topic}, embedder).score_texts(["Police patrol and army hold joint patrol"])[0][0]
    assert result.score == 0.0 and result.reasons.vetoed_by == "police patrol"


def test_batch_scores_equal_one_by_one(scorer: Scorer):
    texts = [DERIK, JOINT, BURIED, "Storm brings heavy rain to coastal towns."]
    batch = scorer.score_texts(texts)
    for text, row in zip(texts, batch, strict=True):
        alone = scorer.score_texts([text])[0]
        assert [round(r.score, 4) for r in row] == pytest.approx([round(r.score, 4) for r in alone], abs=1e-3)
        assert [r.reasons.nearest_example for r in row] == [r.reasons.nearest_example for r in alone]


def test_one_sentence_item_is_its_own_best_sentence(scorer: Scorer):
    title = "Russian jet intercepts US drone over Black Sea"
    reasons = by_topic(scorer, title)["us_russia_standoff"].reasons  # type: ignore[attr-defined]
    assert reasons.best_sentence == title and reasons.sentence_similarity == reasons.example_similarity


def test_sentence_units():
    assert text_units("One short title") == ["One short title"]
    assert split_sentences("First sentence is long enough. Second sentence is long enough too.") == [
        "First sentence is long enough.",
        "Second sentence is long enough too.",
    ]


def test_pruned_scoring_publishes_the_same_alerts(scorer: Scorer):
    # The service embeds sentences only for texts near a threshold: every match, score and reason must be the
    # full scoring's; a text far from every topic is scored on its whole text alone.
    texts = [DERIK, JOINT, BURIED, "Storm brings heavy rain to coastal towns. Schools close for two days in the east."]
    full, pruned = scorer.score_texts(texts), scorer.score_texts_pruned(texts)[0]
    for full_row, pruned_row in zip(full, pruned, strict=True):
        for exact, fast in zip(full_row, pruned_row, strict=True):
            assert fast.matched == exact.matched
            if exact.matched:
                assert fast.score == pytest.approx(exact.score, abs=1e-4)
                assert fast.reasons.best_sentence == exact.reasons.best_sentence
                assert fast.reasons.nearest_example == exact.reasons.nearest_example
    assert any(r.matched for r in pruned[2])  # the buried sentence still alerts

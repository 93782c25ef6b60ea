"""Real-news near misses and Kurdish reports with the real models (issue 27): the Kurdish examples alert with
keyword evidence, the false alarms found on real Russian and Turkish news do not, and the Kurdish set holds its
figures per dialect (docs/languages.md)."""

from __future__ import annotations

import pytest

from services.classifier.evaluation import evaluate_by_language, load_labeled
from services.classifier.scoring import Scorer, score_matrix, threshold_matrix
from shared.config import TripwireConfig
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]
KURDISH_SET = REPO_ROOT / "data/eval/kurdish.jsonl"


@pytest.fixture(scope="module")
def scorer(embedder, multilingual_embedder, default_config: TripwireConfig) -> Scorer:  # type: ignore[no-untyped-def]
    return Scorer(default_config.topics, embedder, multilingual_embedder)


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("Dewriyeya hevpar a Rûsya û Tirkiyê li ser rêya M4 hat kirin.", "kmr"),
        ("دەوریەی هاوبەشی ڕووسیا و تورکیا لە سەر ڕێگای ئێم 4 ئەنجامدرا", "ckb"),
    ],
)
def test_a_kurdish_joint_patrol_on_the_m4_alerts_with_keyword_evidence(scorer: Scorer, text: str, dialect: str):
    [result] = [r for r in scorer.score_texts([text])[0] if r.topic == "joint_patrol"]
    assert (result.language, result.dialect) == ("ku", dialect)
    assert result.matched and result.reasons.keyword_score > 0, result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "Трамп и Путин сделали совместное заявление к 75-летию встречи на Эльбе",
        "Muhalifler Astana'ya katılımı askıya aldı",
        "Pentagon: Rus birlikleri Pokrovsk yakınlarında ilerliyor.",
        "Самолеты ВМС США спешно вылетели на охоту за русскими подлодками",
        "Пентагон: российские войска продвигаются под Покровском.",
        "البنتاغون: القوات الروسية تتقدم قرب بوكروفسك.",
        "Pentagon: Russian troops advancing near Pokrovsk.",
    ],
)
def test_the_issues_real_news_false_alarms_do_not_alert(scorer: Scorer, text: str):
    alerts = [(r.topic, round(r.score, 3)) for r in scorer.score_texts([text])[0] if r.matched]
    assert not alerts, alerts


def test_russian_stand_offs_are_held_to_englishs_threshold_and_every_labeled_report_clears_it(
    scorer: Scorer, default_config: TripwireConfig
):
    # docs/guide/languages-real-news.md, "Calibrated per language": Russian's stand-off threshold is 0.62, as in
    # English, not the 0.45 of Arabic and Turkish; no Russian report of the three multilingual sets is lost to it.
    topic = default_config.topics["us_russia_standoff"]
    assert topic.threshold_for("ru") == 0.62 == topic.threshold
    assert topic.threshold_for("ar") == topic.threshold_for("tr") == 0.45
    items = [
        item
        for name in ("multilingual", "multilingual_holdout", "multilingual_sealed")
        for item in load_labeled(REPO_ROOT / f"data/eval/{name}.jsonl", set(default_config.topics))
        if item.lang == "ru" and "us_russia_standoff" in item.labels
    ]
    assert len(items) >= 30
    results = scorer.score_texts([item.text for item in items], [item.lang for item in items])
    standoffs = [next(r for r in row if r.topic == "us_russia_standoff") for row in results]
    missed = [(item.title, round(r.score, 3)) for item, r in zip(items, standoffs, strict=True) if not r.matched]
    assert not missed, missed


def test_the_kurdish_set_recall_per_dialect(scorer: Scorer, default_config: TripwireConfig):
    topics = list(default_config.topics)
    items = load_labeled(KURDISH_SET, set(topics))
    results = scorer.score_texts([item.text for item in items], [item.lang for item in items])
    figures = {
        r.language: r for r in evaluate_by_language(score_matrix(results), threshold_matrix(results), items, topics)
    }
    for dialect in ("ku/kmr", "ku/ckb"):
        assert figures[dialect].any_topic.recall >= 0.9, (dialect, figures[dialect].any_topic)
        # At most one near miss of 14 (Sorani: the Pentagon on the Ukraine front; docs/languages.md).
        assert figures[dialect].any_topic.fp <= 1, (dialect, figures[dialect].any_topic)

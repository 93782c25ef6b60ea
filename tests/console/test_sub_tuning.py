"""A subscription's min_score on the Tune page: counts over stored items, figures over a labeled set, the override."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.scoring import TopicScore
from services.notifier.overrides import load_min_scores
from shared.config import TripwireConfig
from shared.schemas import Item, Reasons
from shared.streams import StreamNames, publish
from tests.console.support import HOOK_URL, client_for, console_config, logged_in
from tests.helpers import config_with
from tests.notifier.support import make_alert, sub
from tripwire.console.sub_tuning import labeled_subscription_figures, stored_counts
from tripwire.console.tuning import LabeledSet

NAMES = StreamNames("tripwire:")
TOPIC = "us_russia_standoff"
STANDOFF = "Russian military police block US convoy on the M4 highway near Tal Tamr"
DERIK = "US and Russian patrols face off on the road outside Derik"
UNRELATED = "City council approves budget for new public library branch"


def _scored(*pairs: tuple[str, float]) -> list[tuple[Item, TopicScore]]:
    return [
        (
            make_alert(n, title=title, summary="").item,
            TopicScore(TOPIC, score, 0.6, Reasons(score=score, threshold=0.6)),
        )
        for n, (title, score) in enumerate(pairs)
    ]


def test_stored_counts_need_the_topic_threshold_the_min_score_and_a_keyword() -> None:
    scored = _scored((STANDOFF, 0.9), (DERIK, 0.7), (UNRELATED, 0.5))
    assert stored_counts(scored, 0.6, [None, 0.0, 0.8, 0.95], []) == [2, 2, 1, 0]
    assert stored_counts(scored, 0.6, [None, 0.8], ["Derik"]) == [1, 0]


def test_labeled_figures_of_a_subscription() -> None:
    labeled = LabeledSet(
        "set.jsonl",
        np.array([[0.9], [0.7], [0.65], [0.5]]),
        [frozenset({TOPIC}), frozenset({TOPIC}), frozenset(), frozenset({TOPIC})],
        [STANDOFF, DERIK, UNRELATED, "A standoff the model missed"],
    )
    at = labeled_subscription_figures(labeled, 0, TOPIC, 0.6, 0.68, []).at_threshold
    assert (at.tp, at.fp, at.fn) == (2, 0, 1)
    below = labeled_subscription_figures(labeled, 0, TOPIC, 0.6, 0.0, [])  # under the threshold: the topic's cut
    assert (below.at_threshold.tp, below.at_threshold.fp) == (2, 1)
    assert min(point.threshold for point in below.curve) >= 0.6
    words = labeled_subscription_figures(labeled, 0, TOPIC, 0.6, 0.6, ["Derik"]).at_threshold
    assert (words.tp, words.fp, words.fn) == (1, 0, 2)


def _would_get(html: str) -> int:
    match = re.search(r'id="sub-would-get">(\d+)<', html)
    assert match, html
    return int(match.group(1))


@pytest.mark.slow
@pytest.mark.model
async def test_min_score_slider_counts_labeled_figures_and_the_saved_override(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    for n, title in enumerate((STANDOFF, DERIK, UNRELATED), start=1):
        await publish(redis, NAMES.items, make_alert(n, title=title, summary="").item.to_json(), 100_000)
    base = console_config(default_config)
    subs = [sub("analysts", HOOK_URL, topics=[TOPIC]), sub("derik-desk", HOOK_URL, keywords=["Derik"], min_score=0.3)]
    config = config_with(base, subscriptions=subs)
    async with client_for(config, redis, embedder) as client:
        csrf = await logged_in(client)
        page = (await client.get(f"/tune?topic={TOPIC}&sub=analysts&min_score=0")).text
        alerting = _would_get(page)
        assert alerting >= 1 and "below the threshold: no effect" in page and f"(now: {alerting})" in page
        assert f"applies to every topic analysts takes ({TOPIC})" in page
        every_topic = (await client.get(f"/tune?topic={TOPIC}&sub=derik-desk")).text  # no topic list: all of them
        assert "applies to every topic derik-desk takes (" + ", ".join(config.topics) + ")" in every_topic
        assert _would_get((await client.get(f"/tune?topic={TOPIC}&sub=analysts&min_score=1")).text) == 0
        desk = (await client.get(f"/tune?topic={TOPIC}&sub=derik-desk&min_score=0")).text
        assert "needs one of: Derik" in desk and _would_get(desk) <= 1
        saved = await client.post(
            "/tune/min_score/save", data={"csrf": csrf, "topic": TOPIC, "sub": "analysts", "min_score": "0.99"}
        )
        assert saved.status_code == 303 and await load_min_scores(redis, NAMES) == {"analysts": 0.99}
        after = (await client.get(saved.headers["location"])).text
        assert "override in Redis: <strong>0.99</strong>" in after and "(now: 0)" in after
        lines = [{"title": STANDOFF, "labels": [TOPIC]}, {"title": UNRELATED, "labels": []}]
        body = "\n".join(json.dumps(line) for line in lines).encode()
        form = {"csrf": csrf, "topic": TOPIC, "threshold": "0.5", "sub": "analysts", "min_score": "0"}
        uploaded = (await client.post("/tune/labeled", data=form, files={"file": ("two.jsonl", body)})).text
        assert 'id="sub-labeled-figures">On two.jsonl: precision' in uploaded
        high = (await client.get(f"/tune?topic={TOPIC}&sub=analysts&min_score=1")).text
        assert re.search(r'id="sub-labeled-figures">.*?recall <strong>0.000</strong>', high, re.S)
        await client.post("/tune/min_score/clear", data={"csrf": csrf, "topic": TOPIC, "sub": "analysts"})
        assert await load_min_scores(redis, NAMES) == {}
        unknown = await client.post("/tune/min_score/save", data={"csrf": csrf, "sub": "nobody", "min_score": "0.5"})
        assert unknown.status_code == 400
        for value in ("high", "nan", "inf", "-1", "2"):  # nan clamped to 0 would send the subscription every alert
            garbled = {"csrf": csrf, "sub": "analysts", "min_score": value}
            assert (await client.post("/tune/min_score/save", data=garbled)).status_code == 400, value
        assert await load_min_scores(redis, NAMES) == {}

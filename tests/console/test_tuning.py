"""Tuning: scores of a pasted text, the threshold slider over stored items and a labeled upload, overrides."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.overrides import apply_thresholds, load_thresholds, save_threshold
from services.classifier.scoring import Scorer, TopicScore
from services.classifier.service import Classifier
from shared.config import TripwireConfig
from shared.schemas import Reasons
from shared.streams import StreamNames, publish
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import make_alert

pytestmark = [pytest.mark.slow, pytest.mark.model]
NAMES = StreamNames("tripwire:")
TOPIC = "us_russia_standoff"
STANDOFF = "Russian military police block US convoy on the M4 highway near Tal Tamr"
UNRELATED = "City council approves budget for new public library branch"


async def _items(redis: Redis) -> None:
    for n, title in enumerate((STANDOFF, UNRELATED), start=1):
        alert = make_alert(n, title=title, summary="")
        await publish(redis, NAMES.items, alert.item.to_json(), 100_000)


def _would_alert(html: str) -> int:
    match = re.search(r'id="would-alert">(\d+)<', html)
    assert match, html
    return int(match.group(1))


async def test_slider_counts_change_and_a_saved_threshold_is_an_override(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    await _items(redis)
    async with client_for(console_config(default_config), redis, embedder) as client:
        csrf = await logged_in(client)
        assert _would_alert((await client.get(f"/tune?topic={TOPIC}&threshold=0")).text) == 2
        assert _would_alert((await client.get(f"/tune?topic={TOPIC}&threshold=1")).text) == 0
        configured = (await client.get(f"/tune?topic={TOPIC}")).text
        assert _would_alert(configured) == 1 and "override in Redis" not in configured
        saved = await client.post("/tune/save", data={"csrf": csrf, "topic": TOPIC, "threshold": "0.97"})
        assert saved.status_code == 303
        assert await load_thresholds(redis, NAMES) == {TOPIC: 0.97}
        page = (await client.get(saved.headers["location"])).text
        assert "override in Redis: <strong>0.97</strong>" in page and _would_alert(page) == 0
        await client.post("/tune/clear", data={"csrf": csrf, "topic": TOPIC})
        assert await load_thresholds(redis, NAMES) == {}
        # Refused, not clamped: nan clamped to 0.0 would make the topic alert on everything.
        for garbled in ("nan", "inf", "-0.1", "1.5", "high", ""):
            refused = await client.post("/tune/save", data={"csrf": csrf, "topic": TOPIC, "threshold": garbled})
            assert refused.status_code == 400, garbled
        assert await load_thresholds(redis, NAMES) == {}


async def test_pasted_text_shows_every_topic_with_reasons(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    config = console_config(default_config)
    async with client_for(config, redis, embedder) as client:
        csrf = await logged_in(client)
        page = (await client.post("/tune/text", data={"csrf": csrf, "text": STANDOFF})).text
    scores = page.split('id="text-scores"')[1]
    for topic in config.topics:
        assert topic in scores
    assert "alerts threshold" in scores and "best sentence" in scores


async def test_labeled_upload_gives_precision_recall_and_a_curve(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    lines = [
        {"title": STANDOFF, "labels": [TOPIC]},
        {"title": "US and Russian patrols face off outside Derik", "labels": [TOPIC]},
        {"title": UNRELATED, "labels": []},
        {"title": "Football club signs new striker", "labels": []},
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    async with client_for(console_config(default_config), redis, embedder) as client:
        csrf = await logged_in(client)
        data = {"csrf": csrf, "topic": TOPIC, "threshold": "0.3"}
        page = await client.post("/tune/labeled", data=data, files={"file": ("mine.jsonl", body)})
        assert page.status_code == 200, page.text
        assert "On mine.jsonl (4 items): precision" in page.text
        assert re.search(r'<polyline points="[\d., ]+"', page.text)
        # The set stays loaded: moving the slider recomputes the figures.
        high = (await client.get(f"/tune?topic={TOPIC}&threshold=1")).text
        assert "recall <strong>0.000</strong>" in high
        bad = await client.post("/tune/labeled", data=data, files={"file": ("bad.jsonl", b'{"title": "x"}\nnot json')})
        assert bad.status_code == 400 and "bad.jsonl:2: not valid JSON" in bad.text


def test_overrides_change_where_a_topic_alerts_not_its_score() -> None:
    reasons = Reasons(score=0.6, threshold=0.5)
    row = [TopicScore(TOPIC, 0.6, 0.5, reasons), TopicScore("other", 0.6, 0.5, reasons)]
    [judged] = apply_thresholds([row], {TOPIC: 0.7})
    assert not judged[0].matched and judged[0].reasons.threshold == 0.7 and judged[0].score == 0.6
    assert judged[1].matched and judged[1].threshold == 0.5
    assert apply_thresholds([row], {}) == [row]


async def test_classifier_applies_an_override_from_its_next_batch(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    config = console_config(default_config)
    classifier = Classifier(config, redis, Scorer(config.topics, embedder), "c1")
    await save_threshold(redis, NAMES, TOPIC, 1.0)
    await _items(redis)
    await classifier.run(asyncio.Event(), drain=True)
    assert await redis.xlen(NAMES.alerts) == 0
    await redis.delete("tripwire:overrides:thresholds")
    alert = make_alert(3, title=STANDOFF, summary="")
    await publish(redis, NAMES.items, alert.item.to_json(), 100_000)
    await classifier.run(asyncio.Event(), drain=True)
    assert await redis.xlen(NAMES.alerts) == 1

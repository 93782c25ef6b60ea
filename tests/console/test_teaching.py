"""Teaching from the console: a vote becomes a learned example the classifier and the console score with."""

from __future__ import annotations

import asyncio
import re

import pytest
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.learned import learned_examples, learned_version
from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from shared.config import TripwireConfig
from shared.schemas import Alert
from shared.streams import StreamNames, publish
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import make_alert

pytestmark = [pytest.mark.slow, pytest.mark.model]
NAMES = StreamNames("tripwire:")
TOPIC = "us_russia_standoff"
TITLE = "Russian military police block US convoy on the M4 highway near Tal Tamr"


async def _alert_scores(redis: Redis) -> list[float]:
    raw = await redis.xrange(NAMES.alerts)
    return [Alert.model_validate_json(fields[b"data"]).score for _, fields in raw]


async def test_voting_an_alert_down_lowers_its_score_everywhere(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    config = console_config(default_config)
    classifier = Classifier(config, redis, Scorer(config.topics, embedder), "c1")
    await publish(redis, NAMES.items, make_alert(1, title=TITLE, summary="").item.to_json(), 100_000)
    await classifier.run(asyncio.Event(), drain=True)
    [before] = await _alert_scores(redis)
    async with client_for(config, redis, embedder) as client:
        csrf = await logged_in(client)
        alerts_page = (await client.get("/alerts")).text
        assert 'value="not_relevant"' in alerts_page
        voted = await client.post(
            "/vote", data={"csrf": csrf, "item_id": "item-1", "topic": TOPIC, "vote": "not_relevant", "back": "/alerts"}
        )
        assert voted.status_code == 303 and voted.headers["location"] == "/alerts"
        learned_page = (await client.get("/learned")).text
        assert "counter-example" in learned_page and TITLE in learned_page
        moved = re.search(r'<td class="score">([\d.]+)</td>\s*<td class="score down">([\d.]+)</td>', learned_page)
        assert moved and float(moved.group(2)) < float(moved.group(1))
        assert "counter_examples:" in (await client.get("/learned.yaml")).text
        # The classifier scores the next item with the vote in.
        await publish(redis, NAMES.items, make_alert(2, title=TITLE, summary="").item.to_json(), 100_000)
        await classifier.run(asyncio.Event(), drain=True)
        assert len(await _alert_scores(redis)) == 1  # the same text no longer alerts
        [example] = (await learned_examples(redis, NAMES, [TOPIC]))[TOPIC]
        await client.post("/learned/remove", data={"csrf": csrf, "topic": TOPIC, "id": example.id})
    assert (await learned_examples(redis, NAMES, [TOPIC]))[TOPIC] == []
    assert await learned_version(redis, NAMES) == 2
    await publish(redis, NAMES.items, make_alert(3, title=TITLE, summary="").item.to_json(), 100_000)
    await classifier.run(asyncio.Event(), drain=True)
    assert (await _alert_scores(redis))[-1] == pytest.approx(before, abs=1e-4)


async def test_votes_need_a_known_item_topic_and_vote(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    async with client_for(console_config(default_config), redis, embedder) as client:
        csrf = await logged_in(client)
        for form in ({"item_id": "missing", "topic": TOPIC, "vote": "relevant"},
                     {"item_id": "item-1", "topic": "nope", "vote": "relevant"}):  # fmt: skip
            assert (await client.post("/vote", data={"csrf": csrf, **form})).status_code == 400
    assert await learned_version(redis, NAMES) == 0

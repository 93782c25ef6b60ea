"""No silent loss: a backlog beyond redis.maxlen waits instead of being trimmed, nothing is acked unseen, a lost
consumer group comes back at its position (issue 16's second and third reproductions and a rolling upgrade)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from redis.asyncio import Redis

import services.notifier.service as notifier_service
from services.classifier.service import Classifier
from shared.config import TripwireConfig
from shared.metrics import DEAD_LETTERS, ENTRIES_INVALID
from shared.redis_server import RedisServer
from shared.schemas import Item, parse_alerts_message
from shared.stream_consume import ensure_group
from shared.streams import StreamConsumer, StreamNames
from tests.helpers import config_with, pub_date, rss
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tests.notifier.test_no_secret_leaks import config_document
from tests.poller.support import poller_config, running_poller
from tripwire import cli
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

NAMES = StreamNames("tripwire:")


class CountingScorer:
    """Scores nothing as a match and remembers every item it was given (the reproduction counts items scored)."""

    def __init__(self) -> None:
        self.scored: list[str] = []
        self.embedder = None

    def score_items_with_vectors(self, items: Sequence[Item]) -> tuple[list[list[Any]], np.ndarray]:
        self.scored += [item.id for item in items]
        return [[] for _ in items], np.zeros((len(items), 1), dtype=np.float32)


def versioned_feed(etag: str, body: bytes):  # type: ignore[no-untyped-def]
    """Answers 304 to a matching If-None-Match, like a real feed server."""

    def respond(request: ReceivedRequest) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(304)
        return Reply(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})

    return respond


@pytest.mark.slow
async def test_backlog_beyond_maxlen_is_delayed_never_lost(redis: Redis, default_config: TripwireConfig):
    # Reproduction 2 of issue 16: redis.maxlen 1000, the classifier down, one feed of 3,000 new items polled; then
    # the classifier drained, the poller run again (the feed would answer 304), the classifier drained again.
    # Before: 1,001 of 3,000 items were ever scored; MAXLEN trimmed the rest unread and the seen markers hid them.
    body = rss([{"title": f"Story {n}", "description": "text", "guid": f"s-{n}", "pubDate": pub_date()}
                for n in range(3000)])  # fmt: skip
    with LocalServer(versioned_feed('"v1"', body)) as server:
        base = poller_config(default_config, [f"{server.url}/feed"])
        config = config_with(base, redis={"maxlen": 1000, "stream_prefix": "tripwire:"})
        scorer = CountingScorer()
        classifier = Classifier(config, redis, scorer, "c1")  # type: ignore[arg-type]
        async with running_poller(config, redis) as poller:
            first = (await poller.poll_all())[0]
            await classifier.run(asyncio.Event(), drain=True)
            for _ in range(4):  # the second poll and drain, then until caught up
                result = (await poller.poll_all())[0]
                await classifier.run(asyncio.Event(), drain=True)
                if not getattr(result, "waiting", 0):
                    break
    assert len(scorer.scored) == 3000 and len(set(scorer.scored)) == 3000, f"{len(scorer.scored)} of 3000 scored"
    assert (first.published, first.waiting) == (1000, 2000), "the producer stops at the cap of unread items"
    assert result.not_modified is False and result.waiting == 0


async def test_full_stream_shows_in_healthz_details_and_feeds(any_redis: Redis, default_config: TripwireConfig):
    redis = any_redis  # Redis 7 and 6.2: XTRIM MINID and the publish script on both
    body = rss([{"title": f"Story {n}", "description": "t", "guid": f"s-{n}"} for n in range(1010)])
    with LocalServer(versioned_feed('"v1"', body)) as server:
        config = config_with(poller_config(default_config, [f"{server.url}/feed"]), redis={"maxlen": 1000})
        async with running_poller(config, redis) as poller:
            result = (await poller.poll_all())[0]
            _ok, details = poller.health.status()
            state = await poller.states.load(f"{server.url}/feed")
    assert result.waiting == 10
    assert details["stream tripwire:items"] == {"length": 1000, "maxlen": 1000, "full": True}
    assert state.items_waiting == 10 and state.etag is None, "validators unsaved: the next poll fetches again"
    from tripwire.cli_feeds import feed_status

    assert feed_status(config.feeds[0], state).startswith("waiting (10 items")


async def test_unknown_version_and_invalid_entries_are_dead_lettered_not_dropped(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Reproduction 3 of issue 16: `XADD tripwire:alerts * data '{"v":2}'` was acked and dropped, and the dead-letter
    # metric counted it although nothing reached the dead-letter stream.
    with LocalServer(lambda _r: Reply(204)) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")])
        await redis.xadd(NAMES.alerts, {"data": '{"v":2}'})
        await redis.xadd(NAMES.alerts, {"data": "not json", "extra": "kept"})
        await publish_messages(redis, make_alert(1))
        counted = DEAD_LETTERS.labels(source=NAMES.alerts)._value.get()
        versions = ENTRIES_INVALID.labels(stream=NAMES.alerts, reason="unknown_version")._value.get()
        await make_notifier(config, redis, http, FakeClock()).run(asyncio.Event(), drain=True)
        assert len(server.requests) == 1
    letters = [json.loads(fields[b"data"]) for _id, fields in await redis.xrange(NAMES.dlq)]
    assert [letter["fields"] for letter in letters] == [{"data": '{"v":2}'}, {"data": "not json", "extra": "kept"}]
    assert "schema version 2 is not supported" in letters[0]["reason"]
    assert all(letter["source"] == NAMES.alerts and letter["kind"] == "entry" for letter in letters)
    assert DEAD_LETTERS.labels(source=NAMES.alerts)._value.get() == counted + 2, "the metric counts what is there"
    assert ENTRIES_INVALID.labels(stream=NAMES.alerts, reason="unknown_version")._value.get() == versions + 1
    assert (await redis.xpending(NAMES.alerts, "notifier"))["pending"] == 0


async def test_invalid_items_are_dead_lettered_by_the_classifier(redis: Redis, default_config: TripwireConfig):
    await redis.xadd(NAMES.items, {"data": '{"v":2,"id":"x"}'})
    await Classifier(default_config, redis, CountingScorer(), "c1").run(asyncio.Event(), drain=True)  # type: ignore[arg-type]
    [(_id, fields)] = await redis.xrange(NAMES.dlq)
    letter = json.loads(fields[b"data"])
    assert letter["source"] == NAMES.items and letter["fields"] == {"data": '{"v":2,"id":"x"}'}


def test_rolling_upgrade_newer_producer_first_loses_nothing(
    redis_server: RedisServer, default_config: TripwireConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # fmt: skip
    # A newer producer (v2) goes first while this notifier (reads v1) still runs: v1 alerts are delivered, v2 ones
    # wait in the dead-letter stream; after the notifier is upgraded, `tripwire dlq replay --all` delivers them.
    redis_server.client().flushdb()
    with LocalServer(lambda _r: Reply(204)) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")])
        path = tmp_path / "tripwire.yaml"
        path.write_text(yaml.safe_dump(config_document(config)))
        monkeypatch.setenv("REDIS_URL", redis_server.url)

        def newer(n: int) -> str:
            doc = json.loads(make_alert(n).to_json())
            return json.dumps({**doc, "v": 2, "field_from_the_future": True})

        async def produce_and_drain() -> None:
            redis = Redis.from_url(redis_server.url)
            await redis.xadd(NAMES.alerts, {"data": make_alert(1).to_json()})
            await redis.xadd(NAMES.alerts, {"data": newer(2)})
            await redis.xadd(NAMES.alerts, {"data": newer(3)})
            async with httpx.AsyncClient() as http:
                await make_notifier(config, redis, http, FakeClock()).run(asyncio.Event(), drain=True)
            await redis.aclose()

        asyncio.run(produce_and_drain())
        assert len(server.requests) == 1
        assert cli.main(["dlq", "list", "--config", str(path)]) == 0
        assert capsys.readouterr().out.count("schema version 2 is not supported") == 2

        def upgraded(data: str | bytes) -> Any:  # the new build reads v2 (here: v1 plus an ignored field)
            doc = json.loads(data)
            return parse_alerts_message(json.dumps({**doc, "v": 1}))

        monkeypatch.setattr(notifier_service, "parse_alerts_message", upgraded)
        assert cli.main(["dlq", "replay", "--all", "--config", str(path)]) == 0

        async def drain() -> None:
            redis = Redis.from_url(redis_server.url)
            async with httpx.AsyncClient() as http:
                await make_notifier(config, redis, http, FakeClock()).run(asyncio.Event(), drain=True)
            assert await redis.xlen(NAMES.dlq) == 0
            await redis.aclose()

        asyncio.run(drain())
        ids = [json.loads(r.body)["data"]["id"] for r in server.requests]
    assert sorted(ids) == ["alert-1-us_russia_standoff", "alert-2-us_russia_standoff", "alert-3-us_russia_standoff"]


async def test_lost_consumer_group_is_recreated_at_its_position(any_redis: Redis):
    redis = any_redis
    for n in range(5):
        await redis.xadd(NAMES.alerts, {"data": str(n)})
    await ensure_group(redis, NAMES.alerts, "notifier")
    consumer = StreamConsumer(redis, NAMES.alerts, "notifier", "n1")
    entries = await consumer.read(block=False)
    await consumer.ack([entry.id for entry in entries[:3]])
    await redis.xgroup_destroy(NAMES.alerts, "notifier")  # Redis lost the group (an old snapshot, by hand)
    await ensure_group(redis, NAMES.alerts, "notifier")
    again = await StreamConsumer(redis, NAMES.alerts, "notifier", "n2").read(block=False)
    assert [entry.id for entry in again] == [entry.id for entry in entries[3:]], "not from 0: no re-delivery"


async def test_an_evicting_maxmemory_policy_is_warned_about_and_shown_in_healthz(redis: Redis):
    from shared.health import HealthState
    from shared.redis_checks import eviction_warning, warn_if_evicting

    await redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        state = HealthState()
        warning = await warn_if_evicting(redis, [state])
        assert warning is not None and "allkeys-lru" in warning
        assert state.status()[1]["warnings"]["redis_eviction"] == warning
    finally:
        await redis.config_set("maxmemory-policy", "noeviction")
    assert await eviction_warning(redis) is None


async def test_fenced_lease_scripts_on_redis_7_and_6_2(any_redis: Redis):
    from services.notifier.leases import LeaseKeys, Leases

    redis, keys = any_redis, LeaseKeys(NAMES)
    leases = Leases(redis, keys)  # the real clock: Redis TIME decides
    await redis.zadd(keys.schedule, {"d1": 0})
    # Margins that hold on a loaded machine: the refused claim and the extend must both happen within the first
    # lease (2 s); the extended lease (0.3 s) is then waited out with room to spare.
    [first] = await leases.claim(await leases.peek_due(10), lease=2.0)
    assert await leases.claim(["d1"], lease=60) == [], "not claimable while leased"
    assert await leases.extend(first, 0.3, send_starts=True)
    await asyncio.sleep(0.5)  # the only way to let Redis TIME pass a lease
    [second] = await leases.claim(await leases.peek_due(10), lease=60)
    assert second.token != first.token and second.was_in_flight
    assert await leases.settle(first, "delivered", [], 60, None) == (False, ""), "a stale token settles nothing"
    assert not await leases.reschedule(first, "{}", 0) and not await leases.extend(first, 60)
    assert await leases.settle(second, "delivered", [NAMES.key("delivery", "d1")], 60, None) == (True, "")
    assert await redis.zcard(keys.schedule) == 0 and await redis.get(NAMES.key("delivery", "d1")) == b"delivered"


async def test_acked_entries_stay_as_history_up_to_the_cap_and_unread_ones_are_never_trimmed(any_redis: Redis):
    from shared.stream_bounds import trim_acked

    redis = any_redis
    for n in range(10):
        await redis.xadd(NAMES.items, {"data": str(n)})
    await ensure_group(redis, NAMES.items, "classifier")
    consumer = StreamConsumer(redis, NAMES.items, "classifier", "c1", count=6)
    read = await consumer.read(block=False)
    await consumer.ack([entry.id for entry in read[:4]])  # 4 acked, 2 pending, 4 unread
    assert await trim_acked(redis, NAMES.items, keep=8) == 8, "the two oldest acked go, history stays"
    assert await trim_acked(redis, NAMES.items, keep=0) == 6, "only acked entries are ever trimmed"
    remaining = [entry_id.decode() for entry_id, _ in await redis.xrange(NAMES.items)]
    assert remaining[:2] == [entry.id for entry in read[4:]], "the pending ones are the oldest left"

"""A silenced story's follow-ups are recorded and not delivered; the first alert after the silence ends is delivered."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.metrics import SILENCED
from shared.silences import Matcher, SilenceStore, new_silence
from shared.streams import StreamNames
from tests.notifier.support import PREFIX, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames(PREFIX)


def story_alert(n: int, story: str, update: bool):  # type: ignore[no-untyped-def]
    alert = make_alert(n)
    return alert.model_copy(update={"story_id": story, "event": "story.update" if update else "story.new"})


async def test_a_silenced_story_is_recorded_not_delivered_until_the_silence_ends(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as receiver:
        config = notifier_config(
            default_config,
            [sub("desk", f"{receiver.url}/desk", updates="each"), sub("ops", f"{receiver.url}/ops", updates="each")],
        )
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        store = SilenceStore(redis, NAMES)
        before = SILENCED.labels("desk")._value.get()

        await publish_messages(redis, story_alert(1, "derik", update=False))
        await notifier.run(asyncio.Event(), drain=True)
        # The desk mutes the Derik story for an hour; ops keeps getting it (the silence names the subscription).
        matchers = [Matcher(field="story", value="derik"), Matcher(field="subscription", value="desk")]
        silence = await store.add(new_silence(matchers, 3600, "we follow it on the wire", "editor", clock.now()))
        await publish_messages(redis, story_alert(2, "derik", update=True), story_alert(3, "idlib", update=False))
        await notifier.run(asyncio.Event(), drain=True)
        clock.advance(3601)  # the silence ends by itself
        await publish_messages(redis, story_alert(4, "derik", update=True))
        await notifier.run(asyncio.Event(), drain=True)

        got = [(r.path, json.loads(r.body)["data"]["item"]["link"].rsplit("/", 1)[1]) for r in receiver.requests]
    # A list: each (subscription, alert) once; the desk missed only alert 2, during the silence.
    assert sorted(got) == sorted(
        [("/desk", "1"), ("/ops", "1"), ("/ops", "2"), ("/desk", "3"), ("/ops", "3"), ("/desk", "4"), ("/ops", "4")]
    )
    records = await store.silenced_alerts()
    assert [(r["alert_id"], r["subscription"], r["silence_id"]) for r in records] == [
        ("alert-2-us_russia_standoff", "desk", silence.id)
    ]
    assert records[0]["matchers"] == "story=derik subscription=desk"
    assert SILENCED.labels("desk")._value.get() == before + 1
    assert [s.id for s in await store.active(clock.now())] == []
    assert [s.state(clock.now()) for s in await store.all(clock.now())] == ["expired"]

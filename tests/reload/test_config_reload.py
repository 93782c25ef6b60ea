"""Config reloads without a restart (shared/config_reload.py), as Alertmanager's: SIGHUP or the console's request
makes each running service read the file again; a config that fails validation is refused in one log line and the
running one kept. Per service: the notifier delivers to a subscription added to the file, the classifier scores a
topic added to it, the poller polls a feed added to it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from services.notifier.service import Notifier
from services.poller.service import Poller
from shared.config import TripwireConfig, load_config_file
from shared.config_reload import ReloadWatch, request_reload
from shared.http import make_http_client
from shared.schemas import Alert
from shared.streams import DATA_FIELD, StreamNames, publish
from tests.conftest import REPO_ROOT
from tests.helpers import rss
from tests.notifier.support import PREFIX, SECRET, FakeClock, make_alert, publish_messages
from tests.poller.support import story
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames(PREFIX)
TOPIC = "us_russia_standoff"


def write_config(path: Path, **sections: Any) -> Path:
    """The shipped config with some top-level sections replaced, loopback allowed, written to ``path``."""
    doc = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"))
    doc["network"] = {"allow_private": ["127.0.0.0/8"]}
    doc.update(sections)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def hook(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": url, "secret": SECRET, "topics": [TOPIC]}


async def until(condition: Callable[[], Any], what: str) -> None:
    """Wait (at most 30 s) for a running service to get somewhere; the condition (or what it awaits) says where."""
    for _ in range(3000):
        answer = condition()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def refused(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.fields["error"] for r in caplog.records if r.getMessage() == "config_reload_refused"]  # type: ignore[attr-defined]


async def test_the_notifier_delivers_to_a_subscription_added_to_the_file_and_refuses_a_bad_one(
    redis: Redis, http: httpx.AsyncClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    with LocalServer(lambda _r: Reply(204)) as receiver:
        path = write_config(tmp_path / "tripwire.yaml", subscriptions=[hook("desk", f"{receiver.url}/desk")])
        notifier = Notifier(load_config_file(path), redis, http, "n1", clock=FakeClock())
        stop = asyncio.Event()
        with ReloadWatch(redis, NAMES, lambda: load_config_file(path), "notifier") as watch:
            running = asyncio.create_task(notifier.run(stop, reload=watch))
            await publish_messages(redis, make_alert(1))
            await until(lambda: len(receiver.requests) == 1, "the first delivery")

            # The console's way: the file rewritten, then a reload requested through Redis.
            write_config(path, subscriptions=[hook("desk", f"{receiver.url}/desk"), hook("ops", f"{receiver.url}/ops")])
            await request_reload(redis, NAMES)
            await until(lambda: [s.name for s in notifier.subscriptions] == ["desk", "ops"], "the reload")
            await publish_messages(redis, make_alert(2))
            await until(lambda: len(receiver.requests) == 3, "alert 2 to both subscriptions")

            # SIGHUP's way, with a file that fails validation: refused in one line, the running config kept.
            write_config(path, subscriptions=[hook("desk", f"{receiver.url}/desk") | {"type": "pigeon"}])
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: bool(refused(caplog)), "the refusal")
            await publish_messages(redis, make_alert(3))
            await until(lambda: len(receiver.requests) == 5, "alert 3 to both subscriptions")
            stop.set()
            await running
        got = sorted((r.path, r.body.count(b"news.example/a/")) for r in receiver.requests)
    assert [path for path, _ in got] == ["/desk", "/desk", "/desk", "/ops", "/ops"]
    assert [s.name for s in notifier.subscriptions] == ["desk", "ops"]
    [line] = refused(caplog)
    assert "\n" not in line and "pigeon" in line


@pytest.mark.slow
@pytest.mark.model
async def test_the_classifier_scores_a_topic_added_to_the_file(
    redis: Redis, embedder: Embedder, tmp_path: Path, default_config: TripwireConfig
):
    topics = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"))["topics"]
    path = write_config(tmp_path / "tripwire.yaml", topics=topics)
    config = load_config_file(path)
    classifier = Classifier(config, redis, Scorer(config.topics, embedder), "c1", clock=FakeClock())
    stop = asyncio.Event()
    with ReloadWatch(redis, NAMES, lambda: load_config_file(path), "classifier") as watch:
        running = asyncio.create_task(classifier.run(stop, reload=watch))
        harvest = {
            "examples": ["The wheat harvest festival drew crowds to the old town square"],
            "keywords": {"any": ["harvest"]}, "threshold": 0.3,
        }  # fmt: skip
        write_config(path, topics={**topics, "harvest": harvest})
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: "harvest" in classifier.config.topics, "the reload")
        item = make_alert(1, title="Harvest festival draws crowds to the old town", summary="").item
        await publish(redis, NAMES.items, item.to_json(), 100_000)
        await until(lambda: redis.xlen(NAMES.alerts), "an alert")
        stop.set()
        await running
    alerts = [Alert.model_validate_json(f[DATA_FIELD.encode()]) for _, f in await redis.xrange(NAMES.alerts)]
    assert [alert.topic for alert in alerts] == ["harvest"]


async def test_the_poller_polls_a_feed_the_console_added(redis: Redis, tmp_path: Path):
    feed_xml = rss([story(1)])
    with LocalServer(lambda _r: Reply(200, feed_xml, {"Content-Type": "application/rss+xml"})) as site:
        first = {"url": f"{site.url}/first.xml", "interval": "1h"}
        added = {"url": f"{site.url}/added.xml", "interval": "1h"}
        poller_settings = {"jitter": 0, "fulltext_below": 0}
        path = write_config(tmp_path / "tripwire.yaml", feeds=[first], poller=poller_settings)
        config = load_config_file(path)
        async with make_http_client(config.network, timeout=5, user_agent="test") as http:
            poller = Poller(config, redis, http)
            stop = asyncio.Event()
            running = asyncio.create_task(poller.run(stop, reload=lambda: load_config_file(path).feeds))
            await until(lambda: any(r.path == "/first.xml" for r in site.requests), "the first feed's poll")
            write_config(path, feeds=[first, added], poller=poller_settings)
            await request_reload(redis, NAMES)
            await until(lambda: any(r.path == "/added.xml" for r in site.requests), "the added feed's poll")
            stop.set()
            await running

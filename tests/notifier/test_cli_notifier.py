"""`tripwire dlq list|replay|drop|enable` and `tripwire test-alert`, run as a user would (in process)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.redis_server import RedisServer
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tests.notifier.test_no_secret_leaks import config_document
from tripwire import cli
from tripwire.local_http import LocalServer, ReceivedRequest, Reply


class Switch:
    """A receiver that rejects until switched to accept."""

    def __init__(self) -> None:
        self.accept = threading.Event()

    def __call__(self, _request: ReceivedRequest) -> Reply:
        return Reply(204) if self.accept.is_set() else Reply(400, b"invalid_payload")


async def drain(config: TripwireConfig, url: str) -> None:
    """Run the notifier in drain mode."""
    redis = Redis.from_url(url)
    try:
        async with make_http_client(config.network, timeout=5, user_agent="test") as http:
            clock = FakeClock()
            clock.advance(1)  # the pinned clock starts at a whole second; a replay is due "now" on the real clock
            await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
    finally:
        await redis.aclose()


async def publish(url: str, *numbers: int) -> None:
    """Put alerts on the stream."""
    redis = Redis.from_url(url)
    try:
        await publish_messages(redis, *(make_alert(n) for n in numbers))
    finally:
        await redis.aclose()


def test_dlq_list_replay_drop(
    redis_server: RedisServer, default_config: TripwireConfig, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    redis_server.client().flushdb()
    switch = Switch()
    with LocalServer(switch) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")])
        path = tmp_path / "tripwire.yaml"
        path.write_text(yaml.safe_dump(config_document(config)))
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        asyncio.run(publish(redis_server.url, 1, 2))
        asyncio.run(drain(config, redis_server.url))

        assert cli.main(["dlq", "list", "--config", str(path)]) == 0
        listing = capsys.readouterr().out
        assert "2 dead letter(s)" in listing and "invalid_payload" in listing and "attempts=1" in listing
        first_id = listing.split()[0]

        switch.accept.set()
        assert cli.main(["dlq", "replay", first_id, "--config", str(path)]) == 0
        asyncio.run(drain(config, redis_server.url))
        assert cli.main(["dlq", "drop", "--all", "--config", str(path)]) == 0
        assert cli.main(["dlq", "list", "--config", str(path)]) == 0
        assert cli.main(["dlq", "replay", "9-9", "--config", str(path)]) == 2
        assert cli.main(["test-alert", "--subscription", "hook", "--config", str(path)]) == 0
        assert cli.main(["test-alert", "--subscription", "nope", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert "replayed 1" in out.out and "dropped 1 dead letter(s)" in out.out and "0 dead letter(s)" in out.out
    assert "test alert delivered to hook" in out.out
    assert "no subscription named 'nope'" in out.err
    ids = [r.headers["webhook-id"] for r in server.requests]
    assert ids[2] in ids[:2], "a replay keeps the delivery's webhook-id"


def test_dlq_enable_after_410(
    redis_server: RedisServer, default_config: TripwireConfig, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    redis_server.client().flushdb()
    with LocalServer(lambda _r: Reply(410)) as server:
        config = notifier_config(default_config, [sub("gone", f"{server.url}/h")])
        path = tmp_path / "tripwire.yaml"
        path.write_text(yaml.safe_dump(config_document(config)))
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        asyncio.run(publish(redis_server.url, 1))
        asyncio.run(drain(config, redis_server.url))
        assert cli.main(["dlq", "list", "--config", str(path)]) == 0
        assert cli.main(["dlq", "enable", "gone", "--config", str(path)]) == 0
        assert cli.main(["dlq", "list", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("subscription gone is DISABLED") == 1
    assert "subscription gone enabled again" in out

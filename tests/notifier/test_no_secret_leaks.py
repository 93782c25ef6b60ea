"""The webhook URL and secret never reach logs, errors, `tripwire` output or metric labels, for each channel."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.logging import setup_logging
from shared.redis_server import RedisServer
from tests.notifier.support import SECRET, FakeClock, make_alert, make_notifier, notifier_config, refused_url, sub
from tripwire import cli
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

TOKEN = "XOXB-t0p-s3cret-T0KEN"  # the credential part of a Slack-style URL path


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging replaces the root handlers; put them back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def receiver(release: threading.Event) -> LocalServer:
    """One server; the path picks the behaviour, and error bodies echo the request path back."""

    def respond(request: ReceivedRequest) -> Reply:
        echo = f"bad token {request.path}".encode()
        if "/ok/" in request.path:
            return Reply(200, b"ok")
        if "/flaky/" in request.path:
            return Reply(503, echo, {"Retry-After": "1"})
        if "/bad/" in request.path:
            return Reply(400, echo)
        if "/gone/" in request.path:
            return Reply(410, echo)
        if "/moved/" in request.path:
            return Reply(302, echo, {"Location": f"http://127.0.0.1:1{request.path}"})
        release.wait(timeout=30)  # "/slow/": answers after the client gave up
        return Reply(200, b"ok")

    return LocalServer(respond).start()


def subscriptions(kind: str, base: str) -> list[dict[str, object]]:
    """One subscription per outcome, every URL carrying the secret token."""
    names = ["ok", "flaky", "bad", "gone", "moved", "slow"]
    subs = [sub(f"{kind}-{name}", f"{base}/{name}/{TOKEN}", kind) for name in names]
    subs.append(sub(f"{kind}-refused", refused_url() + f"/{TOKEN}", kind))
    return subs


@pytest.mark.parametrize("kind", ["slack", "webhook"])
def test_no_url_or_secret_in_any_output(
    kind: str, redis_server: RedisServer, default_config: TripwireConfig, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, restore_logging: None,
):  # fmt: skip
    redis_server.client().flushdb()
    release = threading.Event()
    server = receiver(release)
    try:
        config = notifier_config(default_config, subscriptions(kind, server.url), timeout=0.3)
        setup_logging("text", "DEBUG")
        asyncio.run(run_notifier(config, redis_server.url))
        setup_logging("json", "DEBUG")
        asyncio.run(run_notifier(config, redis_server.url))

        config_file = tmp_path / "tripwire.yaml"
        config_file.write_text(yaml.safe_dump(config_document(config)))
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        codes = [cli.main(["dlq", "list", "--config", str(config_file), "--log-level", "DEBUG"])]
        for name in ("ok", "bad", "gone", "moved", "slow", "refused"):
            args = ["test-alert", "--subscription", f"{kind}-{name}", "--config", str(config_file)]
            codes.append(cli.main([*args, "--log-level", "DEBUG"]))
        codes.append(cli.main(["dlq", "replay", "--all", "--config", str(config_file)]))
        codes.append(cli.main(["dlq", "drop", "--all", "--config", str(config_file)]))
    finally:
        release.set()
        server.stop()

    output = capsys.readouterr()
    everything = output.out + output.err + generate_latest(REGISTRY).decode()
    assert codes == [0, 0, 1, 1, 1, 1, 1, 0, 0]
    assert "delivery_dead_lettered" in output.err and "delivery_retry_scheduled" in output.err
    assert "subscription_disabled" in output.err and "dead letter(s)" in output.out
    assert "test alert delivered" in output.out and "failed (permanent)" in output.out
    assert TOKEN not in everything
    assert server.url not in everything
    assert SECRET not in everything and SECRET.removeprefix("whsec_") not in everything
    assert TOKEN not in repr(config) and SECRET not in repr(config)


async def run_notifier(config: TripwireConfig, redis_url: str) -> None:
    """Publish two alerts and drain the notifier, then once more after the retry delays."""
    redis = Redis.from_url(redis_url)
    clock = FakeClock()
    try:
        async with make_http_client(config.network, timeout=config.notifier.timeout, user_agent="test") as http:
            from tests.notifier.support import publish_messages

            await publish_messages(redis, make_alert(1), make_alert(2))
            notifier = make_notifier(config, redis, http, clock)
            await notifier.run(asyncio.Event(), drain=True)
            for delay in config.notifier.retry_delays:
                clock.advance(delay)
                await notifier.worker.drain()
    finally:
        await redis.aclose()


def config_document(config: TripwireConfig) -> dict[str, object]:
    """The config as YAML-able data, secrets included (it is the user's own file)."""
    doc = config.model_dump(mode="json", exclude={"data_dir"})
    for raw, parsed in zip(doc["subscriptions"], config.subscriptions, strict=True):
        raw["url"] = parsed.url.get_secret_value()
        raw["secret"] = parsed.secret.get_secret_value() if parsed.secret else None
    doc["network"] = {"allow_private": ["127.0.0.0/8"]}
    return doc

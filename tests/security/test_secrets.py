"""No secret (webhook URLs, signing secrets, the vote secret, the Redis password) in anything a full run prints,
logs or stores; and no vote link token (a capability: whoever has it can vote) in any log line.

A demo-like run: a feed on 127.0.0.1, a Redis with a password reached through REDIS_URL, a webhook
receiver, and subscriptions that fail in every way the notifier knows (HTTP 500, Slack's 403 with an
error string, a URL the outbound guard refuses). Everything is captured at DEBUG, in text and json
formats, and grepped for every secret, together with reprs, the metrics page and the dead letters.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from services.notifier.service import Notifier
from services.poller.service import Poller
from shared.config import Settings, load_settings
from shared.logging import LogFormat, setup_logging
from shared.redis_server import RedisServer
from tests.conftest import REPO_ROOT
from tests.helpers import rss
from tests.notifier.support import FakeClock
from tests.test_end_to_end import MATCHING, NOT_MATCHING
from tripwire.cli import main as tripwire_main
from tripwire.commands import notifier_http, poller_http
from tripwire.console.app import create_app
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, static_files
from tripwire.runtime import redis_connection


class Secrets:
    """Fresh secrets for one run, and the environment that carries them."""

    def __init__(self, receiver: str) -> None:
        self.redis_password = "rpw-" + secrets.token_urlsafe(18)
        self.hook_token = secrets.token_urlsafe(18)
        self.hook_secret_b64 = "c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz" + secrets.token_hex(8)
        self.broken_token = secrets.token_urlsafe(18)
        self.broken_secret_b64 = "YnJva2VuLXN1YnNjcmlwdGlvbi1zZWNyZXQ=" + secrets.token_hex(4)
        self.slack_token = secrets.token_urlsafe(18)
        self.internal_token = secrets.token_urlsafe(18)
        self.vote_secret = "vote-" + secrets.token_urlsafe(24)
        self.teams_token = secrets.token_urlsafe(18)
        self.discord_token = secrets.token_urlsafe(18)
        self.telegram_token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
        self.smtp_password = "smtp-" + secrets.token_urlsafe(18)
        self.env = {
            "TRIPWIRE_VOTE_SECRET": self.vote_secret,
            "TRIPWIRE_WEBHOOK_URL": f"{receiver}/hooks/{self.hook_token}",
            "TRIPWIRE_WEBHOOK_SECRET": f"whsec_{self.hook_secret_b64}",
            "BROKEN_WEBHOOK_URL": f"{receiver}/broken/{self.broken_token}",
            "BROKEN_WEBHOOK_SECRET": f"whsec_{self.broken_secret_b64}",
            "SLACK_WEBHOOK_URL": f"{receiver}/services/T000/B000/{self.slack_token}",
            # Refused by the guard (only 127.0.0.0/8 is allowed): the refusal must not show the path either.
            "INTERNAL_WEBHOOK_URL": f"http://10.9.8.7/hooks/{self.internal_token}",
            # The chat platforms and email: each fails (500, 400, 403, nothing listening) and is dead-lettered.
            "TEAMS_WEBHOOK_URL": f"{receiver}/teams/{self.teams_token}",
            "DISCORD_WEBHOOK_URL": f"{receiver}/discord/{self.discord_token}",
            "TELEGRAM_BOT_TOKEN": self.telegram_token,
            "TELEGRAM_API_URL": receiver,
            "SMTP_URL": f"smtp://alerts:{self.smtp_password}@127.0.0.1:{_closed_port()}",
            # Read by the shipped config's console section (TRIPWIRE_VOTE_SECRET is above).
            "TRIPWIRE_CONSOLE_PASSWORD": "console-pw-" + secrets.token_urlsafe(18),
            "TRIPWIRE_CONSOLE_SECRET": "console-key-" + secrets.token_urlsafe(18),
        }

    def redis_url(self, port: int) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{port}/0"

    def values(self) -> list[str]:
        """Every secret, and the parts of each that would give it away on their own."""
        tokens = [self.redis_password, self.hook_token, self.hook_secret_b64, self.broken_token]
        tokens += [self.broken_secret_b64, self.slack_token, self.internal_token, self.vote_secret]
        tokens += [self.teams_token, self.discord_token, self.telegram_token, self.smtp_password]
        tokens += [self.telegram_token.split(":", 1)[1]]
        return tokens + [value for name, value in self.env.items() if name != "TELEGRAM_API_URL"]


def receiver_reply(request: ReceivedRequest) -> Reply:
    """204 for the good webhook, 500 for the broken one, Slack's 403 invalid_token for the Slack URL."""
    if request.path.startswith("/broken/"):
        return Reply(500, b"internal error")
    if request.path.startswith("/services/"):
        return Reply(403, b"invalid_token")
    if request.path.startswith("/teams/"):
        return Reply(500, b"boom")
    if request.path.startswith("/discord/"):
        return Reply(400, b'{"message": "Invalid Webhook Token", "code": 50027}')
    if request.path.startswith("/bot"):
        return Reply(403, b'{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}')
    return Reply(204)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path, feed_url: str) -> Path:
    """The shipped config with the local feed, loopback allowed and secrets only as ${VARS}."""
    doc: dict[str, Any] = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text())
    doc["data_dir"] = str(tmp_path / "data")
    doc["feeds"] = [{"url": feed_url, "name": "local"}]
    doc["network"] = {"allow_private": ["127.0.0.0/8"]}
    # No retries: the 500 is dead-lettered in this run, so its failure path is logged and stored too.
    doc["notifier"] = {"retry_delays": [], "telegram_api_url": "${TELEGRAM_API_URL}"}
    # Alerts carry signed vote links: the secret that signs them must show nowhere, the links only in deliveries.
    # (Added to the shipped console section, whose password and session key the console test needs.)
    doc["console"].update({"url": "https://tripwire.example.com", "vote_secret": "${TRIPWIRE_VOTE_SECRET}"})
    doc["subscriptions"] = [
        {
            "name": "analysts",
            "type": "webhook",
            "url": "${TRIPWIRE_WEBHOOK_URL}",
            "secret": "${TRIPWIRE_WEBHOOK_SECRET}",
        },
        {"name": "broken", "type": "webhook", "url": "${BROKEN_WEBHOOK_URL}", "secret": "${BROKEN_WEBHOOK_SECRET}"},
        {"name": "newsroom", "type": "slack", "url": "${SLACK_WEBHOOK_URL}"},
        {"name": "internal", "type": "webhook", "url": "${INTERNAL_WEBHOOK_URL}"},
        {"name": "teams", "type": "teams", "url": "${TEAMS_WEBHOOK_URL}"},
        {"name": "discord", "type": "discord", "url": "${DISCORD_WEBHOOK_URL}"},
        {"name": "telegram", "type": "telegram", "bot_token": "${TELEGRAM_BOT_TOKEN}", "chat_id": "-100200"},
        {
            "name": "mail",
            "type": "email",
            "url": "${SMTP_URL}",
            "email_from": "t@example.org",
            "email_to": ["desk@example.org"],
        },
    ]
    path = tmp_path / "tripwire.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def servers() -> Iterator[tuple[LocalServer, LocalServer]]:
    feed = LocalServer(static_files({"/feed.xml": rss([MATCHING, NOT_MATCHING])})).start()
    receiver = LocalServer(receiver_reply).start()
    yield feed, receiver
    feed.stop()
    receiver.stop()


def assert_no_secret(where: str, text: str, run: Secrets) -> None:
    leaked = [value for value in run.values() if value in text]
    assert not leaked, f"{where} contains {len(leaked)} secret(s)"
    assert "/vote/link?t=" not in text, f"{where} contains a vote link"


def vote_links_delivered(receiver: LocalServer) -> int:
    """How many vote links the receiver got (the run must have made some for the checks above to mean anything)."""
    return sum(request.body.count(b"/vote/link?t=") for request in receiver.requests)


async def full_run(settings: Settings, embedder: object) -> list[bytes]:
    """Poll, classify, notify (drain modes) through the commands' own wiring; returns the dead letters."""
    async with redis_connection(settings, allow_embedded=False, command="run") as redis:
        async with poller_http(settings) as http:
            results = await Poller(settings.config, redis, http).poll_all()
        assert [result.error for result in results] == [None]
        scorer = Scorer(settings.config.topics, embedder)  # type: ignore[arg-type]
        await Classifier(settings.config, redis, scorer, "c1").run(asyncio.Event(), drain=True)
        async with notifier_http(settings) as http:
            await Notifier(settings.config, redis, http, "n1").run(asyncio.Event(), drain=True)
        prefix = settings.config.redis.stream_prefix
        dead = await redis.xrange(prefix + "dlq")
        return [str(fields).encode() for _id, fields in dead]


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_full_run_logs_and_stores_no_secret(
    log_format: LogFormat,
    tmp_path: Path,
    embedder: object,
    servers: tuple[LocalServer, LocalServer],
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
):
    feed, receiver = servers
    run = Secrets(receiver.url)
    config_path = write_config(tmp_path, f"{feed.url}/feed.xml")
    with RedisServer(appendonly=False, password=run.redis_password) as redis_server:
        assert redis_server.port is not None
        env = {**run.env, "REDIS_URL": run.redis_url(redis_server.port)}
        setup_logging(log_format, "DEBUG")
        settings = load_settings(str(config_path), environ=env, consumer_name="t")
        dead_letters = await full_run(settings, embedder)
        captured = capsys.readouterr()

    delivered = {request.path.split("/")[1][:3] for request in receiver.requests}
    assert delivered == {"hoo", "bro", "ser", "tea", "dis", "bot"}  # every reachable subscription was tried
    assert vote_links_delivered(receiver) >= 12  # two per alert, in each of the six deliveries
    # broken (500), newsroom (403), internal (refused by the guard), teams (500), discord (400), telegram (403),
    # mail (nothing listening)
    assert len(dead_letters) == 7
    # The guard's refusal names the setting that would allow it, and (checked below) no secret.
    assert any(b"refused: " in letter and b"network.allow_private" in letter for letter in dead_letters)
    assert "delivery_dead_lettered" in captured.err and "feed_polled" in captured.err
    assert_no_secret(f"the {log_format} log", captured.err + captured.out, run)
    assert_no_secret("the dead letters", b"".join(dead_letters).decode(), run)
    assert_no_secret("repr(settings)", repr(settings) + str(settings), run)
    assert_no_secret("the settings as JSON", settings.model_dump_json(), run)
    assert_no_secret("the metrics page", generate_latest(REGISTRY).decode(), run)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_cli_output_shows_no_secret(
    log_format: str,
    tmp_path: Path,
    servers: tuple[LocalServer, LocalServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
):
    feed, receiver = servers
    run = Secrets(receiver.url)
    config_path = write_config(tmp_path, f"{feed.url}/feed.xml")
    with RedisServer(appendonly=False, password=run.redis_password) as redis_server:
        assert redis_server.port is not None
        for name, value in {**run.env, "REDIS_URL": run.redis_url(redis_server.port)}.items():
            monkeypatch.setenv(name, value)
        common = ["--config", str(config_path), "--log-format", log_format, "--log-level", "DEBUG"]
        assert tripwire_main(["poller", "--once", *common]) == 0
        assert tripwire_main(["notifier", "--drain", *common]) == 0
        # A wrong password: the error names the problem, not the password.
        monkeypatch.setenv("REDIS_URL", run.redis_url(redis_server.port).replace(run.redis_password, run.hook_token))
        assert tripwire_main(["notifier", "--drain", *common]) == 2
    captured = capsys.readouterr()
    assert "feed_polled" in captured.err
    assert "tripwire: error: Redis refused the credentials" in captured.err
    assert_no_secret(f"tripwire's output ({log_format})", captured.out + captured.err, run)


def test_a_config_error_on_a_secret_field_hides_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, restore_logging: None
):
    run = Secrets("http://127.0.0.1:9")
    config_path = write_config(tmp_path, "http://127.0.0.1:9/feed.xml")
    doc = yaml.safe_load(config_path.read_text())
    doc["subscriptions"][0]["secret"] = ["${TRIPWIRE_WEBHOOK_SECRET}"]  # a list where a string belongs
    config_path.write_text(yaml.safe_dump(doc))
    for name, value in run.env.items():
        monkeypatch.setenv(name, value)
    assert tripwire_main(["poller", "--once", "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "subscriptions[0].secret" in err and "value hidden (secret)" in err
    assert_no_secret("the config error", err, run)


async def test_the_console_shows_and_logs_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
):
    """Every page, a login lockout (its log line is new) and a right login, at DEBUG: no secret anywhere."""
    run = Secrets("http://127.0.0.1:9")
    config_path = write_config(tmp_path, "http://127.0.0.1:9/feed.xml")
    setup_logging("text", "DEBUG")
    with RedisServer(appendonly=False, password=run.redis_password) as redis_server:
        assert redis_server.port is not None
        env = {**run.env, "REDIS_URL": run.redis_url(redis_server.port)}
        settings = load_settings(str(config_path), environ=env, consumer_name="t")
        password = run.env["TRIPWIRE_CONSOLE_PASSWORD"]
        session_key = run.env["TRIPWIRE_CONSOLE_SECRET"]
        async with redis_connection(settings, allow_embedded=False, command="console") as redis:
            # A pinned clock: the five wrong logins must fall in the throttle's 60 s window however slow the machine.
            app = create_app(settings.config, redis, FakeClock(), session_key, lambda: None)  # type: ignore[arg-type,return-value]
            transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9110") as client:
                # Five wrong passwords: the last character replaced by one it is not (the password is random, and a
                # guess from a fixed "abcde" was the right one about one run in twelve: a login, then no lockout).
                wrong = [char for char in "abcdef" if char != password[-1]][:5]
                pages = [await _console_login(client, password[:-1] + guess) for guess in wrong]
                assert pages[-1].status_code == 429
                await redis.delete(f"{settings.config.redis.stream_prefix}console:login_failures:192.0.2.9")
                assert (await _console_login(client, password)).status_code == 303
                for path in ("/", "/feeds", "/items", "/alerts", "/dlq", "/learned", "/learned.yaml", "/healthz"):
                    pages.append(await client.get(path))
    captured = capsys.readouterr()
    assert "console_login_locked" in captured.err
    assert_no_secret("the console's log", captured.out + captured.err, run)
    for page in pages:
        assert_no_secret(f"the console page {page.url.path}", page.text + str(page.headers), run)


async def _console_login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    form = await client.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    return await client.post("/login", data={"password": password, "csrf": csrf, "next": "/feeds"})

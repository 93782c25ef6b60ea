"""Reproduction 6 of issue 25: every delivery refusal or failure names the setting or variable that would change it.

Before: "failed (permanent): no answer: OutboundRefused" for a private address, and "set the environment variable it
reads" for an empty URL, naming neither network.allow_private nor the variable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml

from services.notifier.outcome import DeliveryResult, result_for_smtp_reply, result_for_status
from services.notifier.outcome import result_for_transport_error as transport
from services.notifier.remedies import remedy_for, with_remedy
from shared.config import NetworkSettings, NotifierSettings, SubscriptionConfig, TripwireConfig, parse_config
from shared.outbound import OutboundRefused
from shared.redis_server import RedisServer
from tests.notifier.support import notifier_config, sub
from tests.notifier.test_cli_notifier import drain, publish
from tests.notifier.test_no_secret_leaks import config_document
from tripwire import cli
from tripwire.local_http import LocalServer, Reply

TWO_SUBS = """
subscriptions:
  - name: analysts-webhook
    type: webhook
    url: {first}
  - name: newsroom-slack
    type: slack
    url: {second}
"""


def send_test_alert(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, name: str) -> tuple[int, str, str]:
    path = tmp_path / "tripwire.yaml"
    path.write_text(text)
    code = cli.main(["test-alert", "--subscription", name, "--config", str(path)])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


def test_a_private_address_names_the_allow_private_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Refused by the guard before any connection: nothing is sent to 10.0.0.5.
    config = TWO_SUBS.format(first="http://10.0.0.5/hook", second="${SLACK_WEBHOOK_URL:-}")
    code, out, _err = send_test_alert(tmp_path, capsys, config, "analysts-webhook")
    assert (code, out) == (1, "test alert to analysts-webhook failed (permanent): refused: 10.0.0.5 is a private "
                              "address; allow it with network.allow_private: [10.0.0.0/8]")  # fmt: skip


def test_an_empty_url_names_its_field_and_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    config = TWO_SUBS.format(first="http://10.0.0.5/hook", second="${SLACK_WEBHOOK_URL:-}")
    code, _out, err = send_test_alert(tmp_path, capsys, config, "newsroom-slack")
    assert (code, err) == (2, "tripwire: error: subscription 'newsroom-slack': subscriptions[1].url is empty: set "
                              "SLACK_WEBHOOK_URL in the environment")  # fmt: skip


def test_an_url_left_empty_in_the_file_says_to_write_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, _out, err = send_test_alert(tmp_path, capsys, TWO_SUBS.format(first='""', second='""'), "analysts-webhook")
    assert code == 2
    assert err.endswith("subscriptions[0].url is empty: write it in the config, or ${VARIABLE} to read it from the "
                        "environment")  # fmt: skip


def test_a_telegram_token_names_its_variable():
    config = parse_config("subscriptions:\n  - {name: tg, type: telegram, bot_token: '${TG_TOKEN:-}', chat_id: '@x'}\n",
                          "t.yaml", {})  # fmt: skip
    assert (
        config.subscriptions[0].missing_target()
        == "subscriptions[0].bot_token is empty: set TG_TOKEN in the environment"
    )


def test_a_rejection_by_a_real_receiver_names_the_fields_to_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with LocalServer(lambda _request: Reply(401, b"bad signature")) as server:
        config = TWO_SUBS.format(first=f"{server.url}/hook", second='""')
        config += "network:\n  allow_private: [127.0.0.0/8]\n"
        code, out, _err = send_test_alert(tmp_path, capsys, config, "analysts-webhook")
    assert code == 1
    assert out.endswith("rejected (HTTP 401): bad signature; check subscriptions[0].url and subscriptions[0].secret "
                        "(or bot_token)")  # fmt: skip


def test_a_refusal_is_final_and_says_what_would_allow_it():
    refused = OutboundRefused("10.0.0.5 is a private address; allow it with network.allow_private: [10.0.0.0/8]")
    result = transport(refused)
    assert (result.retryable, result.category) == (False, "refused")
    assert result.reason.startswith("refused: 10.0.0.5 is a private address")


SUB = SubscriptionConfig(name="ops", type="webhook", url="https://hooks.example/x")  # type: ignore[arg-type]
SUB.place(3)


@pytest.mark.parametrize(
    ("result", "names"),
    [
        (transport(httpx.ConnectTimeout("slow")), "notifier.timeout (10 s)"),
        (transport(httpx.ConnectError("down")), "the host of subscriptions[3].url"),
        (transport(OutboundRefused("scheme 'ftp' is not allowed (only http and https)")), "fix subscriptions[3].url"),
        (result_for_status(403), "subscriptions[3].secret"),
        (result_for_status(404), "fix subscriptions[3].url"),
        (result_for_status(410), "tripwire dlq enable ops"),
        (result_for_status(301), "set subscriptions[3].url to the receiver's current address"),
        (result_for_status(503), "notifier.retry_delays"),
        (result_for_smtp_reply(535), "user and password in subscriptions[3].url"),
        (
            DeliveryResult.failure("SMTP server: STARTTLS not supported", retryable=False, category="smtp_unsupported"),
            "subscriptions[3].require_tls: false",
        ),
        (
            DeliveryResult.failure("TLS certificate not trusted", retryable=False, category="tls"),
            "subscriptions[3].url",
        ),
    ],
    ids=lambda value: value.category if isinstance(value, DeliveryResult) else "",
)
def test_every_failure_names_a_setting(result: DeliveryResult, names: str):
    explained = with_remedy(result, SUB, NotifierSettings())
    assert explained.reason.startswith(result.reason) and names in explained.reason
    assert "hooks.example" not in explained.reason  # fields are named, never their values (a URL is a credential)


def test_success_needs_no_remedy():
    assert remedy_for(DeliveryResult.success(200), SUB, NotifierSettings()) is None


def test_a_dead_letter_says_what_would_allow_the_delivery(
    redis_server: RedisServer, default_config: TripwireConfig, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    redis_server.client().flushdb()
    config = notifier_config(default_config, [sub("hook", "http://10.0.0.5/hook")])
    config = config.model_copy(update={"network": NetworkSettings()})  # nothing private allowed
    path = tmp_path / "tripwire.yaml"
    path.write_text(yaml.safe_dump(config_document(config)))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    asyncio.run(publish(redis_server.url, 1))
    asyncio.run(drain(config, redis_server.url))
    assert cli.main(["dlq", "list", "--config", str(path)]) == 0
    listing = capsys.readouterr().out
    assert "refused: 10.0.0.5 is a private address; allow it with network.allow_private: [10.0.0.0/8]" in listing

"""Mail through a local relay (issue 25): ``require_tls: false`` per email subscription, Alertmanager's
smtp_require_tls convention, against a real aiosmtpd server on 127.0.0.1 that offers no STARTTLS."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trustme

from services.notifier.channel import Delivery
from services.notifier.remedies import with_remedy
from shared.config import ConfigError, NotifierSettings, parse_config
from shared.logging import TextFormatter
from tests.notifier.smtp_peer import PASSWORD, USER, SmtpPeer
from tests.notifier.support import make_alert
from tests.notifier.test_email_channel import channel, subscription
from tripwire import cli

AUTH = f"{USER.replace('@', '%40')}:{PASSWORD}@"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_a_relay_without_starttls_gets_the_mail_with_require_tls_false(
    ca: trustme.CA, caplog: pytest.LogCaptureFixture
):
    with SmtpPeer(ca, "plain") as peer, caplog.at_level(logging.WARNING):
        sub = subscription(f"smtp://127.0.0.1:{peer.port}", require_tls=False)  # an MTA on loopback, no STARTTLS
        email = channel(ca)
        first = await email.send(Delivery("d1", "mail", (make_alert(1),)), sub)
        second = await email.send(Delivery("d2", "mail", (make_alert(2),)), sub)
    assert first.ok and second.ok, (first.reason, second.reason)
    assert len(peer.mails) == 2 and peer.mails[0].recipients == ["desk@example.org", "editor@example.org"]
    warnings = [TextFormatter().format(r) for r in caplog.records if r.getMessage() == "email_without_tls"]
    assert len(warnings) == 1, "said once per subscription, not per mail"
    assert "subscription=mail" in warnings[0] and "require_tls: false" in warnings[0] and "cleartext" in warnings[0]


async def test_by_default_the_same_relay_gets_nothing_and_the_reason_names_require_tls(ca: trustme.CA):
    with SmtpPeer(ca, "plain") as peer:
        sub = subscription(f"smtp://127.0.0.1:{peer.port}")
        sub.place(2)
        result = with_remedy(await channel(ca).send(Delivery("d", "mail", (make_alert(),)), sub), sub,
                             NotifierSettings())  # fmt: skip
    assert not result.ok and not result.retryable and not peer.mails
    assert "STARTTLS" in result.reason.upper() and "subscriptions[2].require_tls: false" in result.reason


async def test_auth_without_tls_is_allowed_on_a_loopback_relay(ca: trustme.CA):
    with SmtpPeer(ca, "plain-auth") as peer:
        sub = subscription(f"smtp://{AUTH}localhost:{peer.port}", require_tls=False)
        result = await channel(ca).send(Delivery("d", "mail", (make_alert(),)), sub)
    assert result.ok, result.reason
    assert len(peer.mails) == 1


def config(url: str, require_tls: str = "false", kind: str = "email") -> str:
    extra = "    email_from: tripwire@example.org\n    email_to: [desk@example.org]\n" if kind == "email" else ""
    return (f"subscriptions:\n  - name: relay\n    type: {kind}\n    url: '{url}'\n    require_tls: {require_tls}\n"
            f"{extra}")  # fmt: skip


@pytest.mark.parametrize(
    "url", ["smtp://relay.example:25", "smtp://127.0.0.1:25", f"smtp://{AUTH}localhost:25", f"smtp://{AUTH}[::1]:25"]
)
def test_require_tls_false_is_allowed_without_auth_or_on_loopback(url: str):
    assert not parse_config(config(url), "t.yaml", {}).subscriptions[0].require_tls


def test_require_tls_false_with_auth_to_a_remote_host_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    text = config(f"smtp://{AUTH}mail.example:587")
    with pytest.raises(ConfigError) as refused:
        parse_config(text, "t.yaml", {})
    message = str(refused.value)
    assert message.startswith("t.yaml: subscriptions[0]: require_tls: false would send the url's user:password in "
                              "cleartext to a host that is not loopback")  # fmt: skip
    assert PASSWORD not in message and "mail.example" not in message  # the url is a secret: never echoed
    path = tmp_path / "tripwire.yaml"
    path.write_text(text)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert cli.main(["test-alert", "--subscription", "relay", "--config", str(path)]) == 2
    finally:
        root.handlers[:], root.level = handlers, level
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "require_tls: false" in err[0] and PASSWORD not in err[0]


def test_require_tls_is_an_email_field():
    with pytest.raises(ConfigError, match="require_tls applies to email subscriptions only"):
        parse_config(config("https://hooks.example/x", kind="webhook"), "t.yaml", {})
    assert parse_config(config("smtp://relay.example:25", "true"), "t.yaml", {}).subscriptions[0].require_tls

"""Email against a real SMTP server on 127.0.0.1: STARTTLS and TLS with AUTH, text and HTML parts, one mail per
digest, the SMTP reply table, and the outbound guard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trustme

from services.notifier.channel import Delivery
from services.notifier.mail import EmailChannel
from shared.config import SubscriptionConfig
from shared.outbound import OutboundPolicy
from tests.helpers import LOOPBACK
from tests.notifier.smtp_peer import PASSWORD, USER, Handler, SmtpPeer, client_tls, free_port
from tests.notifier.support import T0, FakeClock, make_alert, make_health_event

TO = ["desk@example.org", "editor@example.org"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway CA for the SMTP server's certificate."""
    return trustme.CA()


async def localhost(_host: str, _port: int) -> Sequence[str]:
    """Resolve every name to 127.0.0.1 (the certificate is for "localhost")."""
    return ["127.0.0.1"]


def subscription(url: str, **extra: Any) -> SubscriptionConfig:
    """An email subscription."""
    doc = {"name": "mail", "type": "email", "url": url, "email_from": "tripwire@example.org", "email_to": TO, **extra}
    return SubscriptionConfig.model_validate(doc)


def channel(ca: trustme.CA, policy: OutboundPolicy | None = None, timeout: float = 5.0) -> EmailChannel:
    """The email channel trusting the test CA, loopback allowed."""
    policy = policy or OutboundPolicy(LOOPBACK.allow_private)
    return EmailChannel(policy, FakeClock(T0), timeout=timeout, resolver=localhost, tls_context=client_tls(ca))


def url(scheme: str, port: int) -> str:
    """An SMTP URL with the test account's credentials."""
    return f"{scheme}://{USER.replace('@', '%40')}:{PASSWORD}@localhost:{port}"


@pytest.mark.parametrize(("mode", "scheme"), [("starttls", "smtp"), ("tls", "smtps")])
async def test_one_alert_arrives_as_text_and_html(ca: trustme.CA, mode: str, scheme: str):
    with SmtpPeer(ca, mode) as peer:
        result = await channel(ca).send(
            Delivery("msg_abc", "mail", (make_alert(),)), subscription(url(scheme, peer.port))
        )
    assert result.ok, result.reason
    [mail] = peer.mails
    assert mail.recipients == TO and mail.sender == "tripwire@example.org"
    message = mail.message
    assert message["Subject"] == "[us russia standoff] Convoy standoff number 1"
    assert message["Message-ID"] == "<msg_abc@tripwire.invalid>"
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    for part in (text, page):
        assert "US and Russian convoys blocked each other near Qamishli." in part
        assert "score 0.80 ≥ 0.55" in part and "keywords: convoy" in part and "Example News" in part
    assert "https://news.example/a/1" in text and 'href="https://news.example/a/1"' in page


async def test_a_digest_is_one_mail(ca: trustme.CA):
    alerts = tuple(make_alert(n) for n in range(1, 6))
    with SmtpPeer(ca) as peer:
        delivery = Delivery("msg_digest", "mail", (*alerts, make_health_event()), digest=True)
        result = await channel(ca).send(delivery, subscription(url("smtp", peer.port)))
    assert result.ok
    [mail] = peer.mails
    assert mail.message["Subject"] == "Tripwire digest: 6 messages"
    text = mail.message.get_body(("plain",)).get_content()
    assert all(f"Convoy standoff number {n}" in text for n in range(1, 6)) and "Feed failing" in text


async def test_bad_credentials_are_final(ca: trustme.CA):
    with SmtpPeer(ca) as peer:
        bad = f"smtp://{USER.replace('@', '%40')}:wrong@localhost:{peer.port}"
        result = await channel(ca).send(Delivery("d", "mail", (make_alert(),)), subscription(bad))
    assert not result.ok and not result.retryable and result.status == 535
    assert "wrong" not in result.reason and PASSWORD not in result.reason


async def test_a_server_without_starttls_gets_nothing_in_cleartext(ca: trustme.CA):
    with SmtpPeer(ca, "plain") as peer:
        result = await channel(ca).send(Delivery("d", "mail", (make_alert(),)), subscription(url("smtp", peer.port)))
    assert not result.ok and not result.retryable and "STARTTLS" in result.reason.upper()
    assert not peer.mails


async def test_an_untrusted_certificate_is_final(ca: trustme.CA):
    other = trustme.CA()
    with SmtpPeer(other) as peer:
        result = await channel(ca).send(Delivery("d", "mail", (make_alert(),)), subscription(url("smtp", peer.port)))
    assert not result.ok and not result.retryable and result.category == "tls"


SMTP_CASES = [
    ("data 451", Handler(reply="451 4.3.0 try again later"), True, 451),
    ("data 452", Handler(reply="452 4.3.1 insufficient storage"), True, 452),
    ("data 554", Handler(reply="554 5.7.1 message refused"), False, 554),
    ("rcpt 550", Handler(rcpt_reply="550 5.1.1 no such user"), False, 550),
    ("rcpt 450", Handler(rcpt_reply="450 4.2.1 mailbox busy"), True, 450),
]


@pytest.mark.parametrize(("name", "handler", "retryable", "code"), SMTP_CASES, ids=[c[0] for c in SMTP_CASES])
async def test_the_smtp_reply_table(ca: trustme.CA, name: str, handler: Handler, retryable: bool, code: int):
    with SmtpPeer(ca, handler=handler) as peer:
        result = await channel(ca).send(Delivery("d", "mail", (make_alert(),)), subscription(url("smtp", peer.port)))
    assert (result.ok, result.retryable, result.status) == (False, retryable, code), result.reason
    assert result.category == f"smtp_{code}"


async def test_no_server_is_retried(ca: trustme.CA):
    result = await channel(ca).send(Delivery("d", "mail", (make_alert(),)), subscription(url("smtp", free_port())))
    assert not result.ok and result.retryable and result.category == "connection"


async def test_the_outbound_guard_refuses_a_private_smtp_host(ca: trustme.CA):
    with SmtpPeer(ca) as peer:
        result = await channel(ca, OutboundPolicy()).send(
            Delivery("d", "mail", (make_alert(),)), subscription(url("smtp", peer.port))
        )
    assert not result.ok and not result.retryable and "127.0.0.1" in result.reason
    assert PASSWORD not in result.reason and not peer.mails


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"url": "https://mail.example"}, "smtp://"),
        ({"email_from": None}, "email_from"),
        ({"email_to": []}, "email_to"),
        ({"email_to": ["not an address"]}, "not an email address"),
    ],
)
def test_bad_email_config_says_what_to_fix(doc: dict[str, Any], message: str):
    base = {"name": "m", "type": "email", "url": "smtp://h:587", "email_from": "a@b.c", "email_to": ["d@e.f"]}
    with pytest.raises(ValueError, match=message):
        SubscriptionConfig.model_validate({**base, **doc})

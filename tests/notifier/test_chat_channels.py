"""Teams, Telegram and Discord against receivers on 127.0.0.1 that check each platform's documented shape and limits;
one alert through the real notifier to email, Teams, Telegram and Discord at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import trustme
from redis.asyncio import Redis

from services.notifier.channel import Delivery
from services.notifier.mail import EmailChannel
from services.notifier.pacing import pace
from services.notifier.service import make_channels
from shared.config import NotifierSettings, SubscriptionConfig, TripwireConfig
from shared.http import make_http_client
from shared.outbound import OutboundPolicy
from tests.helpers import LOOPBACK
from tests.notifier.chat_checks import card_text, check_discord, check_teams, check_telegram
from tests.notifier.smtp_peer import PASSWORD, USER, SmtpPeer, client_tls
from tests.notifier.support import (
    T0,
    FakeClock,
    make_alert,
    make_health_event,
    make_notifier,
    notifier_config,
    publish_messages,
    sequence,
)
from tests.notifier.test_vote_links import with_votes
from tripwire.local_http import LocalServer, Reply

TOKEN, CHAT = "123456:AAE-test-token-XYZ", "-1001234"
LONG = "Convoys of US and Russian forces blocked each other on the road near Qamishli. " * 60


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    """Accepts everything (Teams Workflows answer 202, Discord 204, Telegram 200 with ok)."""
    with LocalServer(lambda r: Reply(200, b'{"ok":true,"result":{}}')) as server:
        yield server


def subs(url: str) -> dict[str, SubscriptionConfig]:
    """One subscription per chat platform, all pointing at ``url``."""
    return {
        "teams": SubscriptionConfig(name="t", type="teams", url=f"{url}/teams"),  # type: ignore[arg-type]
        "discord": SubscriptionConfig(name="d", type="discord", url=f"{url}/discord"),  # type: ignore[arg-type]
        "telegram": SubscriptionConfig(name="g", type="telegram", bot_token=TOKEN, chat_id=CHAT),  # type: ignore[arg-type]
    }


async def send(receiver: LocalServer, kind: str, delivery: Delivery) -> bytes:
    """Deliver through the real channel; the one request's body."""
    async with make_http_client(LOOPBACK, timeout=5, user_agent="test") as http:
        channel = make_channels(http, FakeClock(T0), telegram_api_url=receiver.url)[kind]
        result = await channel.send(delivery, subs(receiver.url)[kind])
    assert result.ok, result.reason
    return receiver.requests[-1].body


async def test_teams_gets_an_adaptive_card_with_reasons_and_link(receiver: LocalServer):
    card = check_teams(await send(receiver, "teams", Delivery("d", "t", (make_alert(language="ru"),))))
    text = card_text(card)
    assert "Convoy standoff number 1" in text and "score 0.80 ≥ 0.55" in text and "keywords: convoy" in text
    assert "language: ru" in text
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open article", "url": "https://news.example/a/1"}


async def test_telegram_gets_escaped_html_to_the_chat(receiver: LocalServer):
    raw = await send(receiver, "telegram", Delivery("d", "g", (make_alert(),)))
    text, hrefs = check_telegram(receiver.requests[-1].path, raw, TOKEN, CHAT)
    assert "Convoy standoff number 1" in text and "score 0.80 ≥ 0.55" in text
    assert hrefs == ["https://news.example/a/1"]


async def test_discord_gets_an_embed_that_pings_nobody(receiver: LocalServer):
    body = check_discord(await send(receiver, "discord", Delivery("d", "d", (make_alert(),))))
    [embed] = body["embeds"]
    assert embed["url"] == "https://news.example/a/1" and "Convoy standoff number 1" in embed["title"]
    assert "score 0.80 ≥ 0.55" in embed["description"]


@pytest.mark.parametrize("kind", ["teams", "telegram", "discord"])
async def test_a_big_digest_stays_within_the_platform_limits(receiver: LocalServer, kind: str):
    alerts = tuple(make_alert(n, title=LONG[:400], summary=LONG) for n in range(40))
    delivery = Delivery("big", "x", (*alerts, make_health_event()), digest=True)
    raw = await send(receiver, kind, delivery)
    if kind == "teams":
        text = card_text(check_teams(raw))
    elif kind == "telegram":
        text, _ = check_telegram(receiver.requests[-1].path, raw, TOKEN, CHAT)
    else:
        text = json.dumps(check_discord(raw))
    assert "41 messages" in text and "more not shown" in text  # what did not fit is counted, not silently lost


TELEGRAM_FLOOD = b'{"ok":false,"error_code":429,"parameters":{"retry_after":7}}'
DISCORD_LIMITED = b'{"message":"rate limited","retry_after":7.5,"global":false}'


@pytest.mark.parametrize(("kind", "body"), [("telegram", TELEGRAM_FLOOD), ("discord", DISCORD_LIMITED)])
async def test_a_platform_retry_hint_in_the_body_is_honoured(kind: str, body: bytes):
    with LocalServer(lambda _r: Reply(429, body)) as server:
        async with make_http_client(LOOPBACK, timeout=5, user_agent="test") as http:
            channel = make_channels(http, FakeClock(T0), telegram_api_url=server.url)[kind]
            result = await channel.send(Delivery("d", "x", (make_alert(),)), subs(server.url)[kind])
    assert result.retryable and result.retry_after == pytest.approx(7.0 if kind == "telegram" else 7.5)
    assert TOKEN not in result.reason


def test_each_destination_is_paced_on_its_own():
    settings = NotifierSettings()
    chats = subs("https://hooks.example")
    other = SubscriptionConfig(name="g2", type="telegram", bot_token=TOKEN, chat_id="-999")  # type: ignore[arg-type]
    keys = {pace(sub, settings)[0] for sub in [*chats.values(), other]}
    assert len(keys) == 4  # two Telegram chats of one bot are two destinations
    # Each chat platform is paced at the rate the docs promise (Channels: Teams "2 a second per URL", Telegram "one a
    # second" per chat, Discord "2 a second per webhook"): the documented numbers, not the code's constants.
    documented = {"teams": 2.0, "telegram": 1.0, "discord": 2.0}
    assert {kind: pace(chats[kind], settings)[1] for kind in documented} == documented


async def test_one_alert_reaches_every_new_channel_through_the_notifier(redis: Redis, default_config: TripwireConfig):
    ca = trustme.CA()
    with LocalServer(sequence(Reply(200, b'{"ok":true}'))) as hooks, SmtpPeer(ca) as smtp:
        smtp_url = f"smtp://{USER.replace('@', '%40')}:{PASSWORD}@localhost:{smtp.port}"
        config = with_votes(notifier_config(default_config, [
            {"name": "mail", "type": "email", "url": smtp_url, "email_from": "t@example.org",
             "email_to": ["d@example.org"]},
            {"name": "teams", "type": "teams", "url": f"{hooks.url}/teams"},
            {"name": "discord", "type": "discord", "url": f"{hooks.url}/discord"},
            {"name": "tg", "type": "telegram", "bot_token": TOKEN, "chat_id": CHAT},
        ], telegram_api_url=hooks.url))  # fmt: skip
        async with make_http_client(config.network, timeout=5, user_agent="test") as http:
            clock = FakeClock()
            notifier = make_notifier(config, redis, http, clock)
            localhost = EmailChannel(OutboundPolicy(config.network.allow_private), clock, votes=None,
                                     resolver=_localhost, tls_context=client_tls(ca))  # fmt: skip
            mail = notifier.worker.channels["email"]
            assert isinstance(mail, EmailChannel)
            localhost.votes = mail.votes
            notifier.worker.channels = {**notifier.worker.channels, "email": localhost}
            await publish_messages(redis, make_alert(1))
            await notifier.run(asyncio.Event(), drain=True)
        paths = sorted(r.path for r in hooks.requests)
        assert paths == sorted(["/discord", "/teams", f"/bot{TOKEN}/sendMessage"])
        for request in hooks.requests:
            assert "/vote/link?t=" in request.body.decode()  # every channel carries the vote links
        [mail_received] = smtp.mails
        assert "/vote/link?t=" in mail_received.message.get_body(("plain",)).get_content()


async def _localhost(_host: str, _port: int) -> list[str]:
    return ["127.0.0.1"]

"""Signed vote links: genuine ones record a learned example, forged, altered or expired ones record nothing."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from standardwebhooks import Webhook

from services.classifier.learned import export_yaml, learned_examples, learned_version
from shared.config import ConsoleSettings, TripwireConfig
from shared.http import make_http_client
from shared.logging import setup_logging
from shared.streams import StreamNames
from shared.votes import VoteClaim, VoteLinkError, sign_vote, verify_vote, vote_urls
from tests.console.support import PASSWORD, client_for, console_config
from tests.notifier.support import SECRET as WEBHOOK_SECRET
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.console.app import create_app
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames("tripwire:")
SECRET = b"vote-secret-for-tests-0123456789"
TOPIC = "us_russia_standoff"
NOW = 1_800_000_000.0


def _claim(vote: str = "not_relevant", expires: float = NOW + 3600) -> VoteClaim:
    return VoteClaim("alert-1-us_russia_standoff", TOPIC, vote, int(expires))  # type: ignore[arg-type]


def test_a_signed_link_verifies_and_says_what_was_signed() -> None:
    assert verify_vote(SECRET, sign_vote(SECRET, _claim()), NOW) == _claim()


def test_forged_altered_expired_and_malformed_links_are_refused() -> None:
    token = sign_vote(SECRET, _claim())
    with pytest.raises(VoteLinkError, match="signature"):
        verify_vote(b"another-secret", token, NOW)
    # Swap in the payload of the opposite vote, keeping the signature.
    flipped = sign_vote(SECRET, _claim("relevant")).split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(VoteLinkError, match="signature"):
        verify_vote(SECRET, flipped, NOW)
    with pytest.raises(VoteLinkError, match="expired"):
        verify_vote(SECRET, token, NOW + 3601)
    for junk in ("", "abc", "a.b.c", "!!!.???"):
        with pytest.raises(VoteLinkError):
            verify_vote(SECRET, junk, NOW)


async def _console_with_alert(default_config: TripwireConfig, redis: Redis) -> TripwireConfig:
    await publish_messages(redis, make_alert(1, title="Convoy <b>standoff</b> at Derik"))
    return console_config(default_config, vote_secret=SECRET.decode())


async def test_vote_link_records_a_counter_example_and_confirms(default_config: TripwireConfig, redis: Redis) -> None:
    config = await _console_with_alert(default_config, redis)
    clock = FakeClock()
    token = sign_vote(SECRET, _claim(expires=clock.now().timestamp() + 3600))
    async with client_for(config, redis, clock=clock) as client:
        page = await client.get("/vote/link", params={"t": token})  # no login: the signature is the credential
        assert page.status_code == 200
        assert "Convoy &lt;b&gt;standoff&lt;/b&gt; at Derik" in page.text and "not relevant" in page.text
        # The same link again replaces the vote instead of adding a second one.
        assert (await client.get("/vote/link", params={"t": token})).status_code == 200
    learned = await learned_examples(redis, NAMES, [TOPIC])
    [example] = learned[TOPIC]
    assert not example.relevant and example.source == "item-1" and "standoff" in example.text
    assert "counter_examples:" in export_yaml(learned)


async def test_bad_vote_links_record_nothing(default_config: TripwireConfig, redis: Redis) -> None:
    config = await _console_with_alert(default_config, redis)
    clock = FakeClock()
    good = sign_vote(SECRET, _claim(expires=clock.now().timestamp() + 3600))
    expired = sign_vote(SECRET, _claim(expires=(clock.now() - timedelta(seconds=1)).timestamp()))
    forged = sign_vote(b"not-the-server-secret", _claim(expires=clock.now().timestamp() + 3600))
    altered = re.sub(r"^[^.]+", sign_vote(SECRET, _claim("relevant")).split(".")[0], good)
    unknown = sign_vote(SECRET, VoteClaim("no-such-alert", TOPIC, "relevant", int(clock.now().timestamp()) + 60))
    async with client_for(config, redis, clock=clock) as client:
        for token, status in ((expired, 403), (forged, 403), (altered, 403), ("garbage", 403), (unknown, 404)):
            page = await client.get("/vote/link", params={"t": token})
            assert page.status_code == status and "Nothing recorded" in page.text
    assert await learned_version(redis, NAMES) == 0
    disabled = console_config(default_config)  # no vote secret configured: links are refused
    async with client_for(disabled, redis, clock=clock) as client:
        assert (await client.get("/vote/link", params={"t": good})).status_code == 404
    assert await learned_version(redis, NAMES) == 0


def test_vote_urls_carry_one_signed_token_per_vote() -> None:
    urls = vote_urls("https://console.example/", SECRET, "a1", TOPIC, int(NOW) + 60)
    for vote, url in urls.items():
        assert url.startswith("https://console.example/vote/link?t=")
        assert verify_vote(SECRET, url.split("t=", 1)[1], NOW).vote == vote


PREVIEWERS = (
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "",  # every browser sends a User-Agent
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


async def test_link_previewers_and_head_record_nothing_and_get_a_button(
    default_config: TripwireConfig, redis: Redis
) -> None:
    config = await _console_with_alert(default_config, redis)
    clock = FakeClock()
    token = sign_vote(SECRET, _claim(expires=clock.now().timestamp() + 3600))
    async with client_for(config, redis, clock=clock) as client:
        for agent in PREVIEWERS:
            page = await client.get("/vote/link", params={"t": token}, headers={"user-agent": agent})
            assert page.status_code == 200 and "Record my vote" in page.text, agent
            assert f'name="t" value="{token}"' in page.text and 'method="post" action="/vote/link"' in page.text
            # The token must not leak through a Referer header or a cache.
            assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
        head = await client.head("/vote/link", params={"t": token}, headers={"user-agent": FIREFOX})
        assert head.status_code == 200
        assert await learned_version(redis, NAMES) == 0  # nothing recorded by any of them
        # The button: a POST with the token in the form records (public, like the link; the token is the credential).
        for forged in ("garbage", sign_vote(b"not-the-server-secret", _claim(expires=clock.now().timestamp() + 60))):
            refused = await client.post("/vote/link", data={"t": forged})
            assert refused.status_code == 403 and "Nothing recorded" in refused.text
        assert await learned_version(redis, NAMES) == 0
        posted = await client.post("/vote/link", data={"t": token})
        assert posted.status_code == 200 and "Recorded" in posted.text and "not relevant" in posted.text
    [example] = (await learned_examples(redis, NAMES, [TOPIC]))[TOPIC]
    assert not example.relevant and example.source == "item-1"


async def test_a_browser_click_records_at_once_and_a_second_vote_replaces_the_first(
    default_config: TripwireConfig, redis: Redis
) -> None:
    config = await _console_with_alert(default_config, redis)
    clock = FakeClock()
    expires = clock.now().timestamp() + 3600
    async with client_for(config, redis, clock=clock) as client:
        for vote in ("relevant", "not_relevant"):
            token = sign_vote(SECRET, _claim(vote, expires=expires))
            page = await client.get("/vote/link", params={"t": token}, headers={"user-agent": FIREFOX})
            assert page.status_code == 200 and "Recorded" in page.text and "Record my vote" not in page.text
            assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    [example] = (await learned_examples(redis, NAMES, [TOPIC]))[TOPIC]  # one example: the later vote won
    assert not example.relevant and await learned_version(redis, NAMES) == 2


@asynccontextmanager
async def console_server(
    config: TripwireConfig, redis: Redis, clock: FakeClock, sock: socket.socket
) -> AsyncIterator[None]:
    """The real console app under a real uvicorn on an already listening 127.0.0.1 socket."""
    app = create_app(config, redis, clock, "e2e-session-secret-" + "x" * 16, lambda: None)  # type: ignore[arg-type,return-value]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_a_webhook_alert_link_followed_teaches_the_console(
    default_config: TripwireConfig, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """Notifier -> webhook receiver on 127.0.0.1 -> its not_relevant URL -> the console -> a learned counter-example."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # listening before uvicorn runs: the first request waits in the backlog
    console_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    clock = FakeClock()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("text", "INFO")  # the services' logging, with uvicorn's access log going through it
    try:
        with LocalServer(lambda _r: Reply(204)) as receiver:
            config = notifier_config(default_config, [sub("analysts", f"{receiver.url}/hook")])
            console = ConsoleSettings(url=console_url, vote_secret=SECRET.decode(), password=PASSWORD)  # type: ignore[arg-type]
            config = config.model_copy(update={"console": console})
            alert = make_alert(1, title="Convoy standoff at Derik")
            await publish_messages(redis, alert)
            async with make_http_client(config.network, timeout=5, user_agent="test") as http:
                await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
        [request] = receiver.requests
        urls = Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)["data"]["vote_urls"]
        async with console_server(config, redis, clock, sock), httpx.AsyncClient() as browser:
            preview = await browser.get(urls["relevant"], headers={"user-agent": PREVIEWERS[0]})
            assert preview.status_code == 200 and "Record my vote" in preview.text
            assert await learned_version(redis, NAMES) == 0
            clicked = await browser.get(urls["not_relevant"], headers={"user-agent": FIREFOX})
            assert clicked.status_code == 200 and "Recorded" in clicked.text and "not relevant" in clicked.text
            tampered = urls["relevant"][:-3] + ("AAA" if not urls["relevant"].endswith("AAA") else "BBB")
            assert (await browser.get(tampered, headers={"user-agent": FIREFOX})).status_code == 403
        logged = capsys.readouterr().err
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        sock.close()
    [example] = (await learned_examples(redis, NAMES, [TOPIC]))[TOPIC]
    assert not example.relevant and example.source == alert.item.id and "Derik" in example.text
    # uvicorn's access log saw three requests to /vote/link; none of their tokens reached the log.
    assert logged.count("/vote/link?t=[redacted]") == 3
    assert not any(url.split("?t=")[1] in logged for url in (*urls.values(), tampered))

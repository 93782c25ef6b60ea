"""When the answer to a send is lost after the request went out (issue 26, item 5): each channel against a real peer
on 127.0.0.1 that takes the whole request and then drops the connection (or holds it) without answering, through
the real worker, real Redis and every retry of the schedule. The rows of LOST_ANSWER (outcome.py) and the table in
docs/operations/delivery.md are what these tests hold the code to.

Requests and mails are counted as lists, never sets: a set would hide the very duplicates these tests look for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any, get_args

import httpx
import pytest
import trustme
from redis.asyncio import Redis

from services.notifier.channel import Delivery
from services.notifier.mail import EmailChannel
from services.notifier.outcome import LOST_ANSWER
from services.notifier.service import Notifier
from shared.config import SubscriptionConfig, TripwireConfig
from shared.config.subscriptions import ChannelType
from shared.outbound import OutboundPolicy
from tests.helpers import LOOPBACK
from tests.notifier.smtp_peer import PASSWORD, USER, Handler, SmtpPeer, client_tls
from tests.notifier.support import (
    PREFIX,
    FakeClock,
    make_alert,
    make_notifier,
    notifier_config,
    publish_messages,
    refused_url,
)

NUMBER = re.compile(rb"Convoy standoff number (\d+)")
TOKEN = "123456:AAE-test-token"
# Past each retry of notifier_config's schedule (5, 30, 120 s): a delivery that is retried at all is retried here.
RETRY_STEPS = (6, 31, 121, 1)


@dataclass(frozen=True)
class Received:
    """One whole request as the peer read it."""

    path: str
    headers: dict[str, str]
    body: bytes


class SilentPeer:
    """A raw HTTP peer on 127.0.0.1: reads each whole request (headers and Content-Length body), keeps it, then,
    per connection in turn, drops the connection without a byte of answer (``None``), holds it open without
    answering ("hold"), or answers with the given status line. The last entry repeats."""

    def __init__(self, answers: list[str | None]) -> None:
        self.answers = answers
        self.requests: list[Received] = []
        self.release = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> SilentPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        # shutdown wakes the thread blocked in accept(); close alone would leave the kernel socket listening.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        turn = 0
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            answer = self.answers[min(turn, len(self.answers) - 1)]
            turn += 1
            threading.Thread(target=self._handle, args=(conn, answer), daemon=True).start()

    def _handle(self, conn: socket.socket, answer: str | None) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            self.requests.append(request)
            if answer == "hold":
                self.release.wait(30)
            elif answer is not None:
                conn.sendall(f"HTTP/1.1 {answer}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            # None: close with no answer at all, after the receiver got every byte of the request.


def _read_request(conn: socket.socket) -> Received | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return Received(lines[0].split(" ")[1], headers, body)


def numbers(requests: list[Received]) -> list[int]:
    """The alert each request carried, one per request."""
    return [int(match.group(1)) for r in requests if (match := NUMBER.search(r.body))]


def subscription(kind: str, base: str) -> dict[str, Any]:
    """A subscription of ``kind`` that sends to the peer at ``base`` (the Bot API / Web API for token ones)."""
    if kind == "slack_bot":
        return {"name": "s", "type": "slack", "bot_token": "xoxb-test-token", "channel": "C0123456789"}
    if kind == "telegram":
        return {"name": "s", "type": "telegram", "bot_token": TOKEN, "chat_id": "-100123"}
    return {"name": "s", "type": kind, "url": f"{base}/hook"}


async def deliver_through_retries(notifier: Notifier, clock: FakeClock, redis: Redis) -> list[dict[str, Any]]:
    """Publish alert 1, drain, then move the pinned clock past every retry and drain again; the dead letters."""
    await publish_messages(redis, make_alert(1))
    await notifier.run(asyncio.Event(), drain=True)
    for step in RETRY_STEPS:
        clock.advance(step)
        await notifier.worker.drain()
    return [json.loads(fields[b"data"]) for _id, fields in await redis.xrange(PREFIX + "dlq")]


def test_every_channel_type_has_a_lost_answer_row():
    assert set(LOST_ANSWER) == set(get_args(ChannelType))


AT_MOST_ONCE = ["slack", "slack_bot", "teams", "discord", "telegram"]


@pytest.mark.parametrize("answer", [None, "hold"], ids=["dropped", "held"])
@pytest.mark.parametrize("kind", AT_MOST_ONCE)
async def test_a_chat_post_whose_answer_is_lost_is_posted_once_and_dead_lettered_as_possibly_delivered(
    kind: str, answer: str | None, redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Before: "no answer: RemoteProtocolError" (or a timeout) was retryable, and each retry posted again: 4 posts.
    with SilentPeer([answer]) as peer:
        config = notifier_config(default_config, [subscription(kind, peer.url)], slack_api_url=peer.url,
                                 telegram_api_url=peer.url, timeout=0.5, lease=5)  # fmt: skip
        clock = FakeClock()
        dead = await deliver_through_retries(make_notifier(config, redis, http, clock), clock, redis)
        posts = numbers(peer.requests)
    assert posts == [1], f"{len(posts)} posts of one alert"
    [letter] = dead
    assert letter["reason"].startswith("possibly delivered: no answer after the request went out")
    assert letter["retryable"] is False and letter["attempts"] == 1
    assert await redis.zcard(PREFIX + "delivery_schedule") == 0


async def test_a_chat_post_that_never_went_out_is_still_retried(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Connection refused: the receiver never saw a byte, so a retry cannot post twice.
    url = refused_url().removesuffix("/hook")
    config = notifier_config(default_config, [subscription("slack", url)], timeout=0.5, lease=5)
    clock = FakeClock()
    dead = await deliver_through_retries(make_notifier(config, redis, http, clock), clock, redis)
    [letter] = dead
    assert "ConnectError" in letter["reason"] and letter["retryable"] is True
    assert letter["attempts"] == 4, "the first try and every retry of the schedule"


async def test_a_webhook_whose_answer_is_lost_is_sent_again_with_the_same_webhook_id(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # At least once: the receiver de-duplicates by webhook-id, so the resend is safe and nothing waits for an operator.
    with SilentPeer([None, "204 No Content"]) as peer:
        config = notifier_config(default_config, [subscription("webhook", peer.url)], timeout=0.5, lease=5)
        clock = FakeClock()
        dead = await deliver_through_retries(make_notifier(config, redis, http, clock), clock, redis)
        ids = [r.headers["webhook-id"] for r in peer.requests]
    assert len(ids) == 2 and ids[0] == ids[1], ids
    assert dead == []
    assert await redis.get(PREFIX + f"delivery:{ids[0]}") == b"delivered"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _localhost(_host: str, _port: int) -> list[str]:
    return ["127.0.0.1"]


def mail_notifier(
    config: TripwireConfig, redis: Redis, http: httpx.AsyncClient, clock: FakeClock, ca: trustme.CA
) -> Notifier:
    """The notifier with its email channel trusting the test CA and resolving every name to 127.0.0.1."""
    notifier = make_notifier(config, redis, http, clock)
    mail = EmailChannel(OutboundPolicy(config.network.allow_private), clock, timeout=config.notifier.timeout,
                        resolver=_localhost, tls_context=client_tls(ca))  # fmt: skip
    notifier.worker.channels = {**notifier.worker.channels, "email": mail}
    return notifier


def mail_subscription(port: int) -> dict[str, Any]:
    url = f"smtps://{USER.replace('@', '%40')}:{PASSWORD}@localhost:{port}"
    return {"name": "s", "type": "email", "url": url, "email_from": "t@example.org", "email_to": ["d@example.org"]}


async def test_a_mail_the_server_accepted_is_sent_once_though_quit_is_never_answered(
    ca: trustme.CA, redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # Issue 26's reproduction 5: 250 after DATA, then silence at QUIT. Before: retryable "no answer: SMTP timeout",
    # and the retry sent a second copy.
    with SmtpPeer(ca, "tls", Handler(stall="QUIT")) as peer:
        config = notifier_config(default_config, [mail_subscription(peer.port)], timeout=0.5, lease=5)
        clock = FakeClock()
        dead = await deliver_through_retries(mail_notifier(config, redis, http, clock, ca), clock, redis)
        mails = list(peer.mails)
    assert len(mails) == 1, f"{len(mails)} copies of one mail"
    assert dead == []
    [state] = [await redis.get(key) for key in await redis.keys(PREFIX + "delivery:*")]
    assert state == b"delivered"


async def test_a_mail_whose_data_reply_is_lost_is_sent_once_and_dead_lettered_as_possibly_delivered(
    ca: trustme.CA, redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # The server has the whole mail and never says 250: it may deliver it. At most once, like the chat channels.
    with SmtpPeer(ca, "tls", Handler(stall="DATA")) as peer:
        config = notifier_config(default_config, [mail_subscription(peer.port)], timeout=0.5, lease=5)
        clock = FakeClock()
        dead = await deliver_through_retries(mail_notifier(config, redis, http, clock, ca), clock, redis)
        mails = list(peer.mails)
    assert len(mails) == 1, f"{len(mails)} copies of one mail"
    [letter] = dead
    assert letter["reason"].startswith("possibly delivered") and letter["retryable"] is False


async def test_the_mail_channel_itself_reports_an_accepted_mail_as_sent_when_quit_hangs(ca: trustme.CA):
    # The channel alone (as `tripwire test-alert` uses it), its own deadline running out during QUIT. Before:
    # retryable=True, "no answer: SMTP timeout".
    with SmtpPeer(ca, "tls", Handler(stall="QUIT")) as peer:
        mail = EmailChannel(OutboundPolicy(LOOPBACK.allow_private), FakeClock(), timeout=0.5, resolver=_localhost,
                            tls_context=client_tls(ca))  # fmt: skip
        config = SubscriptionConfig.model_validate(mail_subscription(peer.port))
        result = await mail.send(Delivery("msg_quit", "s", (make_alert(1),)), config)
        mails = list(peer.mails)
    assert (result.ok, result.retryable, result.status) == (True, False, 250), result.reason
    assert len(mails) == 1

"""Signed vote links: genuine ones record a learned example, forged, altered or expired ones record nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from services.classifier.learned import export_yaml, learned_examples, learned_version
from shared.config import TripwireConfig
from shared.streams import StreamNames
from shared.votes import VoteClaim, VoteLinkError, sign_vote, verify_vote, vote_urls
from tests.console.support import client_for, console_config
from tests.notifier.support import FakeClock, make_alert, publish_messages

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

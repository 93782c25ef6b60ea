"""Every channel carries a story alert's signed "mute this story" link next to its vote links; the token is signed
under its own context (a vote token is no mute token, and the other way round)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from services.notifier.channel import Delivery, vote_urls_of
from services.notifier.discord import discord_payload
from services.notifier.mail import email_message
from services.notifier.slack import slack_payload
from services.notifier.teams import teams_payload
from services.notifier.telegram import telegram_text
from services.notifier.webhook import webhook_body
from shared.mute_links import MUTE_LINK_SECONDS, MuteClaim, MuteLinkError, sign_mute, verify_mute
from shared.votes import VoteClaim, VoteLinkError, VoteLinks, sign_vote, verify_vote
from tests.notifier.support import FakeClock, make_alert

SECRET = "vote-secret-for-tests-0123456789"
CONSOLE = "https://console.example"
MUTE_TOKEN = re.compile(re.escape(CONSOLE) + r"/mute/link\?t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _delivery(story: str | None) -> Delivery:
    alert = make_alert(1).model_copy(update={"story_id": story, "event": "story.new" if story else "alert"})
    return Delivery("d1", "desk", (alert,))


def _rendered(delivery: Delivery) -> dict[str, str]:
    votes = vote_urls_of(delivery, VoteLinks(CONSOLE, SecretStr(SECRET), 3 * 86400), NOW)
    mail = email_message(delivery, "tripwire@example.org", ["desk@example.org"], votes, FakeClock(NOW))
    return {
        "slack": json.dumps(slack_payload(delivery, votes)),
        "teams": json.dumps(teams_payload(delivery, votes)),
        "telegram": telegram_text(delivery, votes),
        "discord": json.dumps(discord_payload(delivery, votes)),
        "email": "\n".join(part.get_content() for part in mail.iter_parts()),
        "webhook": webhook_body(delivery, votes),
    }


def test_every_channel_carries_the_mute_link_of_a_story_alert():
    for channel, text in _rendered(_delivery("derik")).items():
        tokens = MUTE_TOKEN.findall(text)
        assert tokens, f"{channel}: no mute link"
        claim = verify_mute(SECRET.encode(), tokens[0], NOW.timestamp())
        # Scoped to the subscription the link was delivered to: a link must not mute anyone else's alerts.
        assert claim == MuteClaim("derik", MUTE_LINK_SECONDS, int(NOW.timestamp()) + 3 * 86400, "desk"), channel
        assert "Mute this story" in text or channel == "webhook", channel


def test_an_alert_without_a_story_carries_no_mute_link():
    for channel, text in _rendered(_delivery(None)).items():
        assert "/mute/link" not in text, channel
        assert "/vote/link" in text, channel


def test_vote_and_mute_tokens_are_not_interchangeable():
    secret, later = SECRET.encode(), int(NOW.timestamp()) + 60
    mute = sign_mute(secret, MuteClaim("derik", 3600, later))
    vote = sign_vote(secret, VoteClaim("alert-1", "t", "relevant", later))
    with pytest.raises(VoteLinkError, match="signature"):
        verify_vote(secret, mute, NOW.timestamp())
    with pytest.raises(MuteLinkError, match="signature"):
        verify_mute(secret, vote, NOW.timestamp())
    with pytest.raises(MuteLinkError, match="expired"):
        verify_mute(secret, mute, later + 1)
    altered = sign_mute(secret, MuteClaim("derik", 90 * 86400, later)).split(".")[0] + "." + mute.split(".")[1]
    with pytest.raises(MuteLinkError, match="signature"):  # a longer duration cannot be written into a link
        verify_mute(secret, altered, NOW.timestamp())


def test_mute_tokens_never_reach_a_log_line():
    from shared.logging import redact_vote_tokens

    token = sign_mute(SECRET.encode(), MuteClaim("derik", 3600, int(NOW.timestamp()) + 60))
    line = f'GET /mute/link?t={token} HTTP/1.1" 200'
    assert redact_vote_tokens(line) == 'GET /mute/link?t=[redacted] HTTP/1.1" 200'

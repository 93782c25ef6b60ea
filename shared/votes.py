"""Signed, expiring vote links: "this alert is (not) relevant to its topic", clickable from Slack or a webhook.

A token (shared/signing.py, under its own context ``tripwire-vote-v1``) holds the alert id, the topic, the vote and
the expiry (unix seconds). The signature covers all of them, so changing the vote, the
topic or the expiry invalidates the link; the comparison is constant-time; expired links are refused even when
well signed. The secret comes from the config (``${TRIPWIRE_VOTE_SECRET}``) and never leaves the servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import SecretStr

from shared import signing
from shared.config import ConsoleSettings
from shared.mute_links import mute_url

Vote = Literal["relevant", "not_relevant"]
VOTES: tuple[Vote, ...] = ("relevant", "not_relevant")
# "relevant" and "not_relevant", and "mute" (shared/mute_links.py) for an alert that belongs to a story.
VoteUrls = Mapping[str, str]


class VoteLinkError(signing.SignedLinkError):
    """A vote token that is forged, altered, malformed or expired: nothing may be recorded."""


@dataclass(frozen=True)
class VoteClaim:
    """What a valid token says."""

    alert_id: str
    topic: str
    vote: Vote
    expires: int


VOTE_CONTEXT = b"tripwire-vote-v1"


def sign_vote(secret: bytes, claim: VoteClaim) -> str:
    """The token for one vote link."""
    payload = {"a": claim.alert_id, "t": claim.topic, "v": claim.vote, "e": claim.expires}
    return signing.sign(secret, VOTE_CONTEXT, payload)


def verify_vote(secret: bytes, token: str, now: float) -> VoteClaim:
    """The claim of a genuine, unexpired token; VoteLinkError otherwise (the message says which, not the secret)."""
    try:
        doc = signing.verify(secret, VOTE_CONTEXT, token, now, "vote link")
        claim = VoteClaim(str(doc["a"]), str(doc["t"]), doc["v"], int(doc["e"]))
    except signing.SignedLinkError as exc:
        raise VoteLinkError(str(exc)) from None
    except (ValueError, KeyError, TypeError):
        raise VoteLinkError("malformed vote link") from None
    if claim.vote not in VOTES:
        raise VoteLinkError("unknown vote")
    return claim


def vote_urls(console_url: str, secret: bytes, alert_id: str, topic: str, expires: int) -> dict[Vote, str]:
    """The two links an alert carries ({console}/vote/link?t=...), for Slack messages and webhook payloads."""
    base = console_url.rstrip("/") + "/vote/link?t="
    return {vote: base + sign_vote(secret, VoteClaim(alert_id, topic, vote, expires)) for vote in VOTES}


class VoteLinks:
    """The two signed links of each delivered alert, built once from the console settings by the notifier.

    The links expire ``vote_link_ttl`` after the delivery that carries them (``now`` comes from the caller's clock),
    so a digest held for hours still gets links valid for the whole ttl. They are capabilities: whoever has one can
    vote, so they go into messages and nowhere else (never into a log line).
    """

    def __init__(self, console_url: str, secret: SecretStr, ttl: float) -> None:
        self.console_url, self._secret, self.ttl = console_url, secret, ttl

    @classmethod
    def from_settings(cls, console: ConsoleSettings) -> VoteLinks | None:
        """The links for ``console.url``, or None when alerts carry no links (no url, or no secret to sign with)."""
        if console.url is None or console.vote_secret is None:
            return None
        return cls(console.url, console.vote_secret, console.vote_link_ttl)

    def for_alert(
        self, alert_id: str, topic: str, now: datetime, story_id: str | None = None, subscription: str | None = None
    ) -> dict[str, str]:
        """The relevant / not_relevant URLs of one alert, and its story's "mute" URL when it has a story (muting it
        for ``subscription``, the one the link is delivered to), valid until ``now`` + ttl."""
        expires, secret = int(now.timestamp() + self.ttl), self._secret.get_secret_value().encode()
        urls: dict[str, str] = {
            str(k): v for k, v in vote_urls(self.console_url, secret, alert_id, topic, expires).items()
        }
        if story_id:
            urls["mute"] = mute_url(self.console_url, secret, story_id, expires, subscription=subscription)
        return urls

    def __repr__(self) -> str:
        return f"VoteLinks(console_url={self.console_url!r}, ttl={self.ttl:g})"

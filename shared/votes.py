"""Signed, expiring vote links: "this alert is (not) relevant to its topic", clickable from Slack or a webhook.

A token is ``base64url(json payload) . base64url(HMAC-SHA256(secret, payload))``; the payload holds the alert id,
the topic, the vote and the expiry (unix seconds). The signature covers all of them, so changing the vote, the
topic or the expiry invalidates the link; the comparison is constant-time; expired links are refused even when
well signed. The secret comes from the config (``${TRIPWIRE_VOTE_SECRET}``) and never leaves the servers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import SecretStr

from shared.config import ConsoleSettings
from shared.errors import DataError

Vote = Literal["relevant", "not_relevant"]
VOTES: tuple[Vote, ...] = ("relevant", "not_relevant")
VoteUrls = Mapping[Vote, str]


class VoteLinkError(DataError, ValueError):
    """A vote token that is forged, altered, malformed or expired: nothing may be recorded."""


@dataclass(frozen=True)
class VoteClaim:
    """What a valid token says."""

    alert_id: str
    topic: str
    vote: Vote
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"tripwire-vote-v1\x00" + payload, hashlib.sha256).digest()


def sign_vote(secret: bytes, claim: VoteClaim) -> str:
    """The token for one vote link."""
    payload = json.dumps(
        {"a": claim.alert_id, "t": claim.topic, "v": claim.vote, "e": claim.expires}, separators=(",", ":")
    ).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify_vote(secret: bytes, token: str, now: float) -> VoteClaim:
    """The claim of a genuine, unexpired token; VoteLinkError otherwise (the message says which, not the secret)."""
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (ValueError, binascii.Error):
        raise VoteLinkError("malformed vote link") from None
    # Signature first: nothing in an unsigned payload is looked at.
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise VoteLinkError("vote link signature does not match")
    try:
        doc = json.loads(payload)
        claim = VoteClaim(str(doc["a"]), str(doc["t"]), doc["v"], int(doc["e"]))
    except (ValueError, KeyError, TypeError):
        raise VoteLinkError("malformed vote link") from None
    if claim.vote not in VOTES:
        raise VoteLinkError("unknown vote")
    if now > claim.expires:
        raise VoteLinkError("vote link expired")
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

    def for_alert(self, alert_id: str, topic: str, now: datetime) -> dict[Vote, str]:
        """The relevant / not_relevant URLs of one alert, valid until ``now`` + ttl."""
        expires = int(now.timestamp() + self.ttl)
        return vote_urls(self.console_url, self._secret.get_secret_value().encode(), alert_id, topic, expires)

    def __repr__(self) -> str:
        return f"VoteLinks(console_url={self.console_url!r}, ttl={self.ttl:g})"

"""Signed "mute this story" links: a click in Slack, Teams, Telegram, Discord, mail or a webhook receiver silences a
story's follow-ups for a while, without logging in to the console.

A token (shared/signing.py, under its own context ``tripwire-mute-v1``, so a vote token cannot be replayed as a
mute) holds the story id, the subscription the link was delivered to, the silence's duration and the link's expiry.
The silence mutes the story for that subscription only: a link reaches whoever reads the channel (a webhook
receiver may be a third party), and it must not silence everyone else's alerts. Opening the link only shows a
confirmation page: chat previewers and mail scanners fetch links nobody clicked, so a GET never changes anything;
the page's button POSTs the token back and that creates the silence (``created_by`` "link"), once per link.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import signing

MUTE_CONTEXT = b"tripwire-mute-v1"
MUTE_PATH = "/mute/link"
# How long a link's silence lasts: a day is what "this stand-off again" usually needs; the console sets others.
MUTE_LINK_SECONDS = 24 * 3600


class MuteLinkError(signing.SignedLinkError):
    """A mute token that is forged, altered, malformed or expired: no silence may be set."""


@dataclass(frozen=True)
class MuteClaim:
    """What a valid mute token says."""

    story_id: str
    duration_seconds: int
    expires: int
    subscription: str | None = None  # None in links made before links were scoped: the story for everyone


def sign_mute(secret: bytes, claim: MuteClaim) -> str:
    """The token for one mute link."""
    doc: dict[str, str | int] = {"s": claim.story_id, "d": claim.duration_seconds, "e": claim.expires}
    if claim.subscription is not None:
        doc["u"] = claim.subscription
    return signing.sign(secret, MUTE_CONTEXT, doc)


def verify_mute(secret: bytes, token: str, now: float) -> MuteClaim:
    """The claim of a genuine, unexpired mute token; MuteLinkError otherwise."""
    try:
        doc = signing.verify(secret, MUTE_CONTEXT, token, now, "mute link")
        scope = doc.get("u")
        claim = MuteClaim(str(doc["s"]), int(doc["d"]), int(doc["e"]), None if scope is None else str(scope))
    except signing.SignedLinkError as exc:
        raise MuteLinkError(str(exc)) from None
    except (ValueError, KeyError, TypeError):
        raise MuteLinkError("malformed mute link") from None
    if not claim.story_id or claim.duration_seconds <= 0:
        raise MuteLinkError("malformed mute link")
    return claim


def mute_url(
    console_url: str,
    secret: bytes,
    story_id: str,
    expires: int,
    duration: int = MUTE_LINK_SECONDS,
    subscription: str | None = None,
) -> str:
    """``{console}/mute/link?t=...``: mutes ``story_id`` (for ``subscription``) for ``duration`` seconds, usable until
    ``expires``."""
    token = sign_mute(secret, MuteClaim(story_id, duration, expires, subscription))
    return console_url.rstrip("/") + MUTE_PATH + "?t=" + token

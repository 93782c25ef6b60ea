"""Signed, expiring link tokens: the one place that signs and checks what a link in a message may ask the console.

A token is ``base64url(json payload) . base64url(HMAC-SHA256(secret, context NUL payload))``. ``context`` names
what the token is for (``tripwire-vote-v1``, ``tripwire-mute-v1``): a vote token is worth nothing as a mute token
and the other way round, though both are signed with the same secret (``console.vote_secret``). The signature is
checked first and in constant time, before anything in the payload is read; the payload's ``e`` (unix seconds) is
its expiry, refused once past even when well signed. Errors say what was wrong, never the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from shared.errors import DataError


class SignedLinkError(DataError, ValueError):
    """A token that is forged, altered, malformed, signed for another purpose, or expired: nothing may be done."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, context: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, context + b"\x00" + payload, hashlib.sha256).digest()


def sign(secret: bytes, context: bytes, payload: dict[str, Any]) -> str:
    """The token for ``payload`` (JSON-able, with its expiry as ``e``) under ``context``."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return f"{_b64(raw)}.{_b64(_mac(secret, context, raw))}"


def verify(secret: bytes, context: bytes, token: str, now: float, what: str) -> dict[str, Any]:
    """The payload of a genuine, unexpired token signed under ``context``; SignedLinkError (naming ``what``,
    e.g. "vote link") otherwise."""
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (ValueError, binascii.Error):
        raise SignedLinkError(f"malformed {what}") from None
    # Signature first: nothing in an unsigned payload is looked at.
    if not hmac.compare_digest(mac, _mac(secret, context, payload)):
        raise SignedLinkError(f"{what} signature does not match")
    try:
        doc = json.loads(payload)
        expires = int(doc["e"])
    except (ValueError, KeyError, TypeError):
        raise SignedLinkError(f"malformed {what}") from None
    if not isinstance(doc, dict):
        raise SignedLinkError(f"malformed {what}")
    if now > expires:
        raise SignedLinkError(f"{what} expired")
    return doc

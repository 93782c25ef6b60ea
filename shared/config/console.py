"""Settings of the web console (``tripwire console``): where it listens and how it checks who is there."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.config.durations import Duration

MIN_KEY_LENGTH = 16
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# A host name, an IPv4 address, a bracketed IPv6 address, or "*.example.com" (every name under it).
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_HOST_PATTERN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$|^\[[0-9a-f:.]+\]$")


class ConsoleSettings(BaseModel):
    """The console's address, password, session lifetime and the vote links alerts carry to it."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Bind address; anything but loopback requires a password.")
    port: int = Field(default=9110, ge=0, le=65535, description="TCP port of the console.")
    password: SecretStr | None = Field(
        default=None,
        description="Login password; write it as ${TRIPWIRE_CONSOLE_PASSWORD}. No default: without one the console "
        "only starts on 127.0.0.1 and asks nobody to log in.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies (at least 16 characters); write it as "
        "${TRIPWIRE_CONSOLE_SECRET}. Unset: a random key per start (everyone logs in again after a restart).",
    )
    session_max_age: Duration = Field(default=43200.0, gt=0, description="How long a login lasts (e.g. 12h).")
    vote_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs vote links in alerts (at least 16 characters); write it as "
        "${TRIPWIRE_VOTE_SECRET}. Unset: vote links are refused.",
    )
    vote_link_ttl: Duration = Field(default=604800.0, gt=0, description="How long a vote link stays valid (e.g. 7d).")
    url: str | None = Field(
        default=None,
        description="The console's public base URL as subscribers' browsers reach it (e.g. "
        "https://tripwire.example.com); alerts then carry vote links to it, which needs vote_secret. Unset: alerts "
        "carry no vote links.",
    )
    allowed_hosts: list[str] | None = Field(
        default=None,
        description="Host names the console answers to besides localhost, 127.0.0.1 and [::1] (the Host header, "
        "port aside; '*.example.com' for every name under it); any other gets HTTP 400, which stops DNS rebinding. "
        "Unset: the host of console.url and the bind address when it is a specific one.",
    )

    @field_validator("password", "session_secret", "vote_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # ``password: ${TRIPWIRE_CONSOLE_PASSWORD:-}`` with the variable empty means "no password", never the empty
        # password anyone could type: the shipped config and the Docker stack rely on this (same for the keys).
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("session_secret", "vote_secret")
    @classmethod
    def _key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # These keys sign cookies and vote links (HMAC-SHA256): a short one can be guessed offline from one
        # signed value, after which anyone can forge a session or a vote.
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(
                f"a signing key must be at least {MIN_KEY_LENGTH} characters; make one with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("url", mode="before")
    @classmethod
    def _public_url(cls, value: Any) -> Any:
        # Checked here so a typo gets one plain sentence; an empty ${TRIPWIRE_CONSOLE_URL:-} means "no vote links".
        if value is None or not isinstance(value, str):
            return value
        return public_base_url(value)

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [name.strip().lower() for name in value]
        for name in names:
            if name == "*":
                # "*" would turn the check off: any web page could then reach the console through DNS rebinding.
                raise ValueError("'*' would accept every Host header (DNS rebinding); list the names instead")
            if not _HOST_PATTERN.match(name):
                raise ValueError(
                    f"{name!r} is not a host name; write names without scheme or port, such as tripwire.example.com, "
                    "*.example.com, 10.0.0.5 or [::1]"
                )
        return names

    @model_validator(mode="after")
    def _links_need_a_secret(self) -> ConsoleSettings:
        if self.url is not None and self.vote_secret is None:
            raise ValueError(
                "console.url is set but console.vote_secret is not: vote links in alerts must be signed; set "
                "console.vote_secret to ${TRIPWIRE_VOTE_SECRET} and export a long random value (e.g. openssl "
                "rand -hex 32), or remove console.url to send alerts without vote links"
            )
        return self

    @property
    def trusted_hosts(self) -> list[str]:
        """The Host names the console answers to: the loopback names (a browser sends them only to a page it loaded
        from this machine's own address, never on a rebound name), then ``allowed_hosts``, or by default the host of
        ``url`` and the bind address when it is a specific one (not 0.0.0.0 or ::)."""
        hosts = list(LOOPBACK_NAMES)
        candidates: list[str | None]
        if self.allowed_hosts is not None:
            candidates = list(self.allowed_hosts)
        else:
            candidates = [urlsplit(self.url).hostname if self.url else None, self.host]
        for name in candidates:
            if not name or name in ("0.0.0.0", "::"):  # noqa: S104 - compared, not bound
                continue
            name = name.lower()
            entry = f"[{name}]" if ":" in name and not name.startswith("[") else name
            if entry not in hosts:
                hosts.append(entry)
        return hosts

    @property
    def loopback_only(self) -> bool:
        """True when the bind address is a loopback address (or localhost)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def public_base_url(text: str) -> str | None:
    """``text`` as a base URL without a trailing slash, or None when empty; ValueError says what is wrong."""
    url = text.strip().rstrip("/")
    if not url:
        return None
    example = "such as https://tripwire.example.com or http://127.0.0.1:9110"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"is not a URL; write the console's address {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, {example}")
    # Every alert carries this URL to every subscriber: a password in it would leak, a query or fragment would
    # break the "/vote/link?t=..." appended to it.
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password (every alert carries this URL)")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment, {example}")
    return url

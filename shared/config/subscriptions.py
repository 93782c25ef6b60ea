"""Config of the notifier: who gets which alerts, where, when, and how deliveries are retried."""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.config.channel_urls import HTTP_SCHEMES, SMTP_SCHEMES, check_url
from shared.config.durations import Duration

_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class QuietHours(BaseModel):
    """A daily window (local time of ``timezone``) in which alerts are held, then sent as one digest."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(description="Local start time, HH:MM (24 h).")
    end: str = Field(description="Local end time, HH:MM; may be earlier than start (the window crosses midnight).")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris.")

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value):
            raise ValueError("must be a 24-hour time HH:MM, e.g. 22:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown IANA time zone; use a name such as Europe/Paris or UTC") from None
        return value

    @property
    def start_time(self) -> time:
        """``start`` as a time."""
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        """``end`` as a time."""
        return time.fromisoformat(self.end)


ChannelType = Literal["slack", "webhook", "email", "teams", "telegram", "discord"]
# The schemes each channel's url may have (telegram takes bot_token and chat_id, never a url).
URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "slack": HTTP_SCHEMES, "webhook": HTTP_SCHEMES, "teams": HTTP_SCHEMES, "discord": HTTP_SCHEMES,
    "email": SMTP_SCHEMES,
}  # fmt: skip
_EMAIL_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class SubscriptionConfig(BaseModel):
    """One Slack channel, webhook endpoint, mailbox, Teams/Discord webhook or Telegram chat and the alerts it wants."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: ChannelType
    # The URL is a secret: a Slack, Teams or Discord webhook URL is itself the credential, an SMTP URL holds a password.
    url: SecretStr = Field(
        default="",
        validate_default=True,  # an empty SecretStr: the subscription uses bot_token instead
        description=(
            "Endpoint URL (email: smtp://[user:pass@]host:port for STARTTLS, smtps:// for TLS); write it as ${ENV_VAR}"
            " to keep it out of the file. Empty with bot_token."
        ),
    )
    secret: SecretStr | None = Field(default=None, description="Webhook signing secret (whsec_...).")
    topics: list[str] = Field(default_factory=list, description="Topics to receive; empty means all.")
    min_score: float | None = Field(default=None, ge=0.0, le=1.0, description="Extra bar above the topic threshold.")
    keywords: list[str] = Field(
        default_factory=list, description="Only alerts whose title, summary or matched keywords contain one of these."
    )
    mode: Literal["immediate", "digest"] = Field(default="immediate", description="Send each alert, or a digest.")
    digest_interval: Duration = Field(default=3600.0, gt=0, description="Digest mode: one message per interval.")
    quiet_hours: QuietHours | None = Field(default=None, description="Hold alerts in this window, then send a digest.")
    feed_health: bool = Field(default=False, description="Also receive feed health events (failing, stale, ...).")
    updates: Literal["none", "digest", "each"] = Field(
        default="digest", description="Story updates (another outlet reports a story already sent): none, digest, each."
    )
    updates_interval: Duration = Field(
        default=1800.0, gt=0, description="updates: digest: at most one message of story updates per interval."
    )
    enabled: bool = True
    # A Slack app instead of an incoming webhook: story updates go into the thread of the story's first message.
    bot_token: SecretStr | None = Field(
        default=None,
        description="Slack bot token (xoxb-...): post with chat.postMessage instead of a webhook URL; telegram: the "
        "bot's token from @BotFather.",
    )
    channel: str | None = Field(default=None, description="With bot_token: the Slack channel id to post in.")
    chat_id: str | None = Field(default=None, description="telegram: the chat to post in (numeric id or @channel).")
    email_from: str | None = Field(default=None, description="email: the sender address (From).")
    email_to: list[str] = Field(default_factory=list, description="email: the recipient addresses.")
    require_tls: bool = Field(
        default=True,
        description="email, smtp://: upgrade with STARTTLS and refuse to send if the server does not offer it. false "
        "(Alertmanager's smtp_require_tls) sends in cleartext to a local relay without STARTTLS, e.g. an MTA on "
        "localhost:25; allowed only without user:password in url, or with a loopback host (localhost, 127.0.0.1, ::1).",
    )
    feed_labels: list[str] = Field(
        default_factory=list, description="Only alerts from feeds carrying one of these labels; empty means all feeds."
    )

    # Where this subscription sits in the config and which ${VARIABLES} its fields were read from, so that a failure
    # names the setting that would change it ("subscriptions[2].url is empty: set SLACK_WEBHOOK_URL").
    _position: int | None = PrivateAttr(default=None)
    _variables: dict[str, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    def read_from(self, variables: dict[str, tuple[str, ...]]) -> None:
        """Record the variables each field was read from (the config loader calls this)."""
        self._variables = dict(variables)

    def place(self, position: int) -> None:
        """Record the subscription's index in ``subscriptions`` (TripwireConfig calls this)."""
        self._position = position

    @property
    def field(self) -> str:
        """The config path of this subscription: ``subscriptions[2]`` (its name when built outside a config)."""
        return f"subscriptions[{self._position}]" if self._position is not None else f"subscription {self.name}"

    def missing_target(self) -> str | None:
        """None when there is somewhere to send; otherwise which field is empty and what to set."""
        if self.has_url:
            return None
        token_given = self.bot_token is not None
        field = "bot_token" if self.type == "telegram" or token_given else "url"
        if token_given and self.bot_token and self.bot_token.get_secret_value().strip():
            field = "chat_id" if self.type == "telegram" else "channel"
        names = self._variables.get(field, ())
        if names:
            todo = f"set {' and '.join(names)} in the environment"
        else:
            todo = "write it in the config, or ${VARIABLE} to read it from the environment"
        return f"{self.field}.{field} is empty: {todo}"

    def takes_feed(self, labels: list[str]) -> bool:
        """True when this subscription receives items from a feed with ``labels`` (no feed_labels: every feed).

        Without regard to case: OPML import writes labels as lower-case slugs, hand-written configs say ``Syria``.
        """
        wanted = {label.strip().casefold() for label in self.feed_labels}
        return not wanted or any(label.strip().casefold() in wanted for label in labels)

    def takes(self, topic: str) -> bool:
        """True when this subscription receives ``topic`` (an empty topic list takes every topic)."""
        return not self.topics or topic in self.topics

    @property
    def has_url(self) -> bool:
        """True when there is somewhere to send: the URL, or a bot token and channel (``${VAR:-}`` may leave none)."""
        if self.bot_token is not None and self.bot_token.get_secret_value().strip():
            return bool(self.chat_id if self.type == "telegram" else self.channel)
        if self.type == "telegram":
            return False
        return bool(self.url.get_secret_value().strip())

    @field_validator("url")
    @classmethod
    def _url_is_usable(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # Checked at load (scheme, host, port range), so a bad URL stops the start with one line instead of failing
        # every delivery; the line never shows the user info or path (channel_urls.shown). Empty: no URL (bot_token,
        # or a ${VAR:-} left empty, which skips the subscription).
        url = value.get_secret_value().strip()
        schemes = URL_SCHEMES.get(str(info.data.get("type")))
        if url and schemes is not None:
            check_url(url, schemes)
        return value

    @model_validator(mode="after")
    def _secret_format(self) -> SubscriptionConfig:
        secret = self.secret.get_secret_value() if self.secret else ""
        if secret and not secret.startswith("whsec_"):
            raise ValueError("secret must be in whsec_<base64> form (Standard Webhooks)")
        if secret and self.type == "slack":
            raise ValueError("secret applies to webhook subscriptions only; remove it from this slack subscription")
        self._channel_fields()
        if self.bot_token is not None and self.type not in ("slack", "telegram"):
            raise ValueError("bot_token applies to slack and telegram subscriptions only; remove it")
        if self.type == "telegram":
            return self
        if self.bot_token is not None and not self.channel:
            raise ValueError("bot_token needs channel: the id of the Slack channel to post in (e.g. C0123456789)")
        if self.bot_token is not None and self.url.get_secret_value().strip():
            raise ValueError("set either url (incoming webhook) or bot_token and channel (Slack app), not both")
        return self

    def _channel_fields(self) -> None:
        """Each channel type's own fields: present where they belong, absent elsewhere."""
        if self.type != "email" and (self.email_from or self.email_to):
            raise ValueError("email_from and email_to apply to email subscriptions only; remove them")
        if self.type != "telegram" and self.chat_id:
            raise ValueError("chat_id applies to telegram subscriptions only; remove it or set type: telegram")
        if self.type != "email" and not self.require_tls:
            raise ValueError("require_tls applies to email subscriptions only; remove it")
        if self.type == "email":
            _check_email(self.url.get_secret_value(), self.email_from, self.email_to)
            _check_cleartext(self.url.get_secret_value(), self.require_tls)
        if self.type == "telegram":
            if self.url.get_secret_value().strip():
                raise ValueError("a telegram subscription takes bot_token and chat_id, not url; remove url")
            if self.bot_token is None or not self.chat_id:
                raise ValueError("a telegram subscription needs bot_token (from @BotFather) and chat_id")


def _check_email(url: str, sender: str | None, recipients: list[str]) -> None:
    url = url.strip()
    if url and not url.lower().startswith(("smtp://", "smtps://")):
        raise ValueError("an email url must be smtp://[user:pass@]host:port (STARTTLS) or smtps://... (TLS)")
    if not sender or not _EMAIL_ADDRESS.match(sender):
        raise ValueError("an email subscription needs email_from: the sender address, e.g. tripwire@example.org")
    if not recipients:
        raise ValueError("an email subscription needs email_to: a list of recipient addresses")
    for address in recipients:
        if not _EMAIL_ADDRESS.match(address):
            raise ValueError(f"email_to: {address!r} is not an email address")


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP literals: mail to them never leaves the machine (no DNS lookup here)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_cleartext(url: str, require_tls: bool) -> None:
    # A password in cleartext across a network is what require_tls guards against: without TLS, AUTH is allowed
    # only to a relay on this machine. Without AUTH, cleartext to a relay elsewhere exposes the alert text only.
    parts = urlsplit(url.strip())
    if require_tls or not url.strip() or parts.scheme.lower() != "smtp":
        return
    if (parts.username or parts.password) and not is_loopback_host(parts.hostname or ""):
        raise ValueError(
            "require_tls: false would send the url's user:password in cleartext to a host that is not loopback; "
            "remove user:password from url (a relay without AUTH), use a relay on localhost, or set require_tls: true"
        )


class NotifierSettings(BaseModel):
    """How the notifier delivers."""

    model_config = ConfigDict(extra="forbid")

    timeout: Duration = Field(default=10.0, gt=0, description="Deadline of one delivery request.")
    retry_delays: list[Duration] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0],
        max_length=20,
        description="Wait before each retry; after the last one the delivery is dead-lettered.",
    )
    retry_jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Each delay varies by up to this fraction.")
    max_retry_after: Duration = Field(default=3600.0, gt=0, description="Cap on a receiver's Retry-After.")
    concurrency: int = Field(default=32, ge=1, le=1000, description="Deliveries in flight at once.")
    slack_rate: float = Field(default=1.0, gt=0, description="Slack messages per second per webhook URL.")
    slack_burst: int = Field(default=3, ge=1, description="Slack messages a URL may get at once before pacing.")
    webhook_rate: float | None = Field(default=None, gt=0, description="Optional cap per webhook URL (per second).")
    webhook_burst: int = Field(default=10, ge=1)
    slack_api_url: str = Field(
        default="https://slack.com/api", description="Base URL of the Slack Web API (for bot_token subscriptions)."
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org", description="Base URL of the Telegram Bot API (telegram subscriptions)."
    )
    poll_interval: Duration = Field(default=1.0, gt=0, description="How often due retries and digests are checked.")
    lease: Duration = Field(default=120.0, gt=0, description="A claimed delivery is retried if not settled by then.")

    @model_validator(mode="after")
    def _api_urls_are_usable(self) -> NotifierSettings:
        # A model check, not a field one, so the error quotes the URL as channel_urls.shown() does (never raw).
        for name in ("slack_api_url", "telegram_api_url"):
            try:
                check_url(getattr(self, name), HTTP_SCHEMES)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _lease_outlives_a_request(self) -> NotifierSettings:
        # A lease shorter than a request would let a second attempt start while the first is still in flight.
        if self.lease <= self.timeout:
            raise ValueError(f"lease ({self.lease:g} s) must be longer than timeout ({self.timeout:g} s)")
        return self

"""Config of the notifier: who gets which alerts, where, when, and how deliveries are retried."""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
    feed_labels: list[str] = Field(
        default_factory=list, description="Only alerts from feeds carrying one of these labels; empty means all feeds."
    )

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
        if self.type == "email":
            _check_email(self.url.get_secret_value(), self.email_from, self.email_to)
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
    def _lease_outlives_a_request(self) -> NotifierSettings:
        # A lease shorter than a request would let a second attempt start while the first is still in flight.
        if self.lease <= self.timeout:
            raise ValueError(f"lease ({self.lease:g} s) must be longer than timeout ({self.timeout:g} s)")
        return self

"""Config of the poller: the feeds to read and how politely to read them."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.config.durations import Duration


class FeedConfig(BaseModel):
    """One RSS or Atom feed to poll."""

    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = None
    interval: Duration | None = Field(default=None, description="Poll interval; default: poller.default_interval.")
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a feed url must be an http:// or https:// address with a host")
        return value.strip()


class PollerSettings(BaseModel):
    """How the poller fetches: schedule, limits and item memory."""

    model_config = ConfigDict(extra="forbid")

    default_interval: Duration = Field(default=300.0, gt=0, description="Poll interval of feeds that set none.")
    timeout: Duration = Field(default=30.0, gt=0, description="Total deadline of one fetch.")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest feed body accepted, decompressed.")
    seen_ttl: Duration = Field(default=30 * 86400.0, gt=0, description="How long a published item id is remembered.")
    user_agent: str = "Tripwire/0.1 (+https://github.com/tripwire-alerts/tripwire; feed reader)"

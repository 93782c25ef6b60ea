"""Config of the poller: the feeds to read and how politely to read them."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.config.durations import Duration
from shared.config.websub import WebSubSettings


class FeedConfig(BaseModel):
    """One RSS or Atom feed to poll."""

    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = None
    interval: Duration | None = Field(default=None, description="Poll interval; default: poller.default_interval.")
    stale_after: Duration | None = Field(
        default=None, description="No new item for this long raises a stale alert; default: poller.stale_after."
    )
    enabled: bool = True
    language: str | None = Field(
        default=None, description="The feed's language (ISO 639-1, e.g. ar); wins over detection when set."
    )
    labels: list[str] = Field(default_factory=list, description="Labels (e.g. a region) subscriptions can filter by.")
    fulltext: bool | None = Field(
        default=None,
        description="Fetch each new item's article and score its opening: true always, false never; unset: only "
        "items whose summary is shorter than poller.fulltext_below.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a feed url must be an http:// or https:// address with a host")
        return value.strip()


# Chosen from bench/fulltext.py (docs: Feeds): title + summary loses recall on both labeled sets until
# the summary reaches about 120 characters (one sentence); from there on the article adds nothing measurable.
FULLTEXT_BELOW_DEFAULT = 120


class PollerSettings(BaseModel):
    """How the poller fetches: schedule, limits, back-off, feed health and item memory."""

    model_config = ConfigDict(extra="forbid")

    default_interval: Duration = Field(default=300.0, gt=0, description="Poll interval of feeds that set none.")
    timeout: Duration = Field(default=30.0, gt=0, description="Total deadline of one fetch, redirects included.")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest feed body accepted, decompressed.")
    seen_ttl: Duration = Field(default=30 * 86400.0, gt=0, description="How long a published item id is remembered.")
    user_agent: str = "Tripwire/0.1 (+https://github.com/tripwire-alerts/tripwire; feed reader)"
    max_concurrency: int = Field(default=20, ge=1, description="Fetches in flight at once, over all hosts.")
    per_host_concurrency: int = Field(default=2, ge=1, description="Fetches in flight at once to one host.")
    max_redirects: int = Field(default=5, ge=0, le=20, description="Redirect hops followed per fetch.")
    max_backoff: Duration = Field(default=6 * 3600.0, gt=0, description="Longest wait after failures or Retry-After.")
    failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures that raise a failing alert.")
    stale_after: Duration = Field(
        default=3 * 86400.0, ge=0, description="No new item for this long raises a stale alert (0: never)."
    )
    jitter: Duration = Field(default=30.0, ge=0, description="Most a scheduled poll is shifted at random.")
    fulltext_below: int = Field(
        default=FULLTEXT_BELOW_DEFAULT,
        ge=0,
        description="Fetch the article of a new item whose summary is shorter than this many characters, for feeds "
        "that leave fulltext unset (0: only feeds with fulltext: true). See the docs, Feeds: Full article text.",
    )
    fulltext_max_per_poll: int = Field(
        default=20, ge=1, le=500, description="Most articles fetched for one poll of one feed (the rest go without)."
    )
    fulltext_chars: int = Field(
        default=1200, ge=200, le=10_000, description="How much of the article's opening is kept and scored."
    )
    fulltext_cache_ttl: Duration = Field(
        default=7 * 86400.0, gt=0, description="How long a fetched article's text (or its failure) is remembered."
    )
    adaptive: bool = Field(
        default=True, description="Feeds without their own interval are polled as often as they publish (docs: Feeds)."
    )
    min_interval: Duration = Field(default=45.0, gt=0, description="Shortest adaptive poll interval (busy wires).")
    max_interval: Duration = Field(default=3600.0, gt=0, description="Longest adaptive poll interval (quiet feeds).")
    websub: WebSubSettings = Field(default_factory=WebSubSettings)

    @model_validator(mode="after")
    def _interval_bounds(self) -> PollerSettings:
        if self.min_interval > self.max_interval:
            raise ValueError(
                f"min_interval ({self.min_interval:g} s) is longer than max_interval ({self.max_interval:g} s)"
            )
        return self

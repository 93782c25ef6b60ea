"""Config of WebSub push: where hubs reach the poller, and how long subscriptions last."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.config.durations import Duration


class WebSubSettings(BaseModel):
    """WebSub (W3C) subscriber: off until ``callback_url`` is set, because hubs must be able to reach it."""

    model_config = ConfigDict(extra="forbid")

    callback_url: str | None = Field(
        default=None,
        description="Public base URL hubs POST to (e.g. https://tripwire.example.org/websub); unset: push is off.",
    )
    listen: str = Field(
        default="127.0.0.1:9104", description="host:port the callback server binds (0.0.0.0 in a container)."
    )
    lease: Duration = Field(default=10 * 86400.0, gt=0, description="Lease asked of hubs (they may grant another).")
    poll_interval: Duration = Field(
        default=3600.0, gt=0, description="Safety-net poll interval of a feed while its push is live."
    )
    verify_timeout: Duration = Field(
        default=600.0, gt=0, description="A subscription the hub has not verified by then is retried."
    )
    max_requests_per_second: float = Field(
        default=20.0, gt=0, description="Callback requests accepted per second, all feeds (burst: 5x); more get 429."
    )
    per_feed_per_second: float = Field(
        default=1.0, gt=0, description="Callback requests accepted per second for one subscription (burst: 10)."
    )

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("callback_url must be an http(s) URL with a host and no query or fragment")
        return value.strip().rstrip("/")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port, such as 127.0.0.1:9104 or 0.0.0.0:9104")
        return value.strip()

    @property
    def enabled(self) -> bool:
        """Whether the poller subscribes to hubs at all."""
        return self.callback_url is not None

    @property
    def host_port(self) -> tuple[str, int]:
        """``listen`` split into host and port (brackets of an IPv6 host removed)."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

"""The root of the config file, and the settings that come from the environment."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.config.console import ConsoleSettings
from shared.config.feeds import FeedConfig, PollerSettings
from shared.config.stories import StorySettings
from shared.config.streams import StreamSettings
from shared.config.subscriptions import NotifierSettings, SubscriptionConfig
from shared.config.topics import ClassifierSettings, TopicConfig

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RedisSettings(BaseModel):
    """Stream names, bounds and topology (the server address comes from REDIS_URL or the Sentinels)."""

    model_config = ConfigDict(extra="forbid")

    stream_prefix: str = Field(default="tripwire:", description="Prefix of every key Tripwire writes.")
    maxlen: int = Field(default=100_000, ge=1000, description="Approximate cap on each stream's length.")
    mode: Literal["single", "cluster", "sentinel"] = Field(
        default="single",
        description=(
            "single: one server at REDIS_URL (or the embedded one); cluster: REDIS_URL names any node of a Redis "
            "Cluster; sentinel: the primary is found through redis.sentinels (REDIS_URL, if set, gives credentials "
            "and TLS options)."
        ),
    )
    sentinels: list[str] = Field(
        default_factory=list, description="Sentinel mode: the Sentinels as host:port (three or more in production)."
    )
    service_name: str = Field(default="tripwire", description="Sentinel mode: the name the Sentinels monitor.")

    @field_validator("stream_prefix")
    @classmethod
    def _no_braces(cls, value: str) -> str:
        # Braces would become a Redis Cluster hash tag and defeat the tags Tripwire puts in its keys.
        if "{" in value or "}" in value:
            raise ValueError(f"{value!r} contains a brace; a key prefix may not hold '{{' or '}}'")
        return value

    @field_validator("sentinels")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for entry in value:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{entry!r} is not host:port (for example sentinel-1:26379)")
        return value

    @model_validator(mode="after")
    def _sentinels_for_sentinel_mode(self) -> RedisSettings:
        if self.mode == "sentinel" and not self.sentinels:
            raise ValueError("redis.mode is sentinel but redis.sentinels is empty; list them as host:port")
        return self


class NetworkSettings(BaseModel):
    """Outbound request policy (enforced by shared/outbound.py): public addresses only, plus these networks."""

    model_config = ConfigDict(extra="forbid")

    allow_private: list[IPNetwork] = Field(
        default_factory=list,
        description="Non-public networks outbound requests may reach, in CIDR form (e.g. 10.20.0.0/16, 127.0.0.0/8).",
    )

    @field_validator("allow_private", mode="before")
    @classmethod
    def _parse_cidrs(cls, value: Any) -> Any:
        # Parsed here so a typo gets one plain sentence instead of pydantic's per-member union errors.
        if not isinstance(value, list):
            return value
        return [_parse_cidr(entry) for entry in value]


def _parse_cidr(entry: Any) -> IPNetwork:
    if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return entry
    text = str(entry).strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        hint = f"; did you mean {ipaddress.ip_network(text, strict=False)}?"
    except ValueError:
        hint = " (host names are not accepted: list the network's addresses)"
    raise ValueError(f"{text!r} is not a network in CIDR form such as 10.20.0.0/16{hint}")


class HealthSettings(BaseModel):
    """Where each service serves /healthz and /metrics."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Bind address; 0.0.0.0 inside a container.")
    poller_port: int = Field(default=9101, ge=0, le=65535)
    classifier_port: int = Field(default=9102, ge=0, le=65535)
    notifier_port: int = Field(default=9103, ge=0, le=65535)


class TripwireConfig(BaseModel):
    """Everything in tripwire.yaml."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        default=Path(".tripwire"),
        description="Where the embedded Redis of `run` keeps its data (AOF) and its address file; a relative path "
        "is taken from the config file's folder.",
    )
    redis: RedisSettings = Field(default_factory=RedisSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    streams: StreamSettings = Field(default_factory=StreamSettings)
    poller: PollerSettings = Field(default_factory=PollerSettings)
    feeds: list[FeedConfig] = Field(default_factory=list)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    topics: dict[str, TopicConfig] = Field(default_factory=dict)
    notifier: NotifierSettings = Field(default_factory=NotifierSettings)
    subscriptions: list[SubscriptionConfig] = Field(default_factory=list)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    stories: StorySettings = Field(default_factory=StorySettings)

    @model_validator(mode="after")
    def _references_resolve(self) -> TripwireConfig:
        names = [sub.name for sub in self.subscriptions]
        for position, sub in enumerate(self.subscriptions):
            sub.place(position)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"subscription names must be unique; repeated: {', '.join(duplicates)}")
        for sub in self.subscriptions:
            unknown = [topic for topic in sub.topics if topic not in self.topics]
            if unknown:
                raise ValueError(
                    f"subscription {sub.name!r} names unknown topic(s) {', '.join(unknown)}; "
                    f"known topics: {', '.join(self.topics) or 'none'}"
                )
        return self


class Settings(BaseModel):
    """The validated config file plus what the environment adds (Redis address, consumer name)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: TripwireConfig
    config_path: Path
    redis_url: SecretStr | None = None
    consumer_name: str
    sentinel_password: SecretStr | None = None

"""Config of the stream consumers: taking over from dead consumers, poison entries, shutdown and reconnects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.config.durations import Duration


class StreamSettings(BaseModel):
    """How every consumer (classifier, notifier) recovers work; stream bounds stay in ``redis.maxlen``."""

    model_config = ConfigDict(extra="forbid")

    reclaim_idle: Duration = Field(
        default=60.0,
        gt=0,
        description="A pending entry idle this long is taken over from its consumer, presumed dead; keep it above "
        "the longest batch (a live consumer's entry taken over is processed twice, deduplicated downstream).",
    )
    sweep_interval: Duration = Field(
        default=15.0, gt=0, description="How often each consumer looks for such entries and refreshes stream gauges."
    )
    max_deliveries: int = Field(
        default=5,
        ge=1,
        description="An entry delivered more often than this is poison: it goes to the dead-letter stream, acked.",
    )
    shutdown_grace: Duration = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long the in-flight batch may run on; after it, it is left pending.",
    )
    reconnect_max_backoff: Duration = Field(
        default=10.0, gt=0, description="Longest wait between attempts to reach Redis while it is down."
    )

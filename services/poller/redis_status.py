"""Whether Redis answers, logged once per change rather than once per failed command."""

from __future__ import annotations

from shared.health import HealthState
from shared.logging import get_logger

log = get_logger(__name__)


class RedisStatus:
    """Tracks Redis reachability for the poller and its /healthz."""

    def __init__(self, health: HealthState) -> None:
        self.health = health
        self.up: bool | None = None

    def ok(self) -> None:
        """Redis answered."""
        if self.up is False:
            log.info("redis_recovered")
        self.up = True
        self.health.set_redis_ok(True)

    def down(self, error: Exception) -> None:
        """A Redis command failed."""
        if self.up is not False:
            log.error("redis_unavailable", error=f"{type(error).__name__}: {error}")
        self.up = False
        self.health.set_redis_ok(False)

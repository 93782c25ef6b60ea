"""``/healthz`` and ``/metrics`` on a small HTTP server thread, independent of the service's event loop.

The loop proves it is alive by calling ``beat()``; Redis reachability is recorded by whoever last
talked to Redis. ``/healthz`` answers 200 only when both are fresh, so an orchestrator restarts a
service whose loop is stuck or whose Redis is gone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from shared.logging import get_logger

log = get_logger(__name__)


class RedisOutageLog:
    """Logs a Redis outage once when it starts (``redis_unreachable``) and once when it ends (``redis_reachable``,
    with how long it lasted and how many checks failed), for every HealthState of one process that shares it.

    ``tripwire run`` keeps three services on one Redis: each with its own log, one outage made three pairs of lines.
    Answers are ordered by when the command that gave them began, as in HealthState: a late failure of a command
    sent during the outage does not reopen an outage that a newer success closed.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ok: bool | None = None  # None: not known yet (no line for a first success)
        self._last_observed = float("-inf")
        self._down_since = 0.0
        self._failed_checks = 0
        self._lock = threading.Lock()

    def record(self, ok: bool, *, service: str, error: str | None, observed_at: float) -> None:
        """One answer (or failure) from Redis, seen by ``service`` for a command begun at ``observed_at``."""
        with self._lock:
            if observed_at < self._last_observed:
                return
            self._last_observed = observed_at
            previous, self._ok = self._ok, ok
            if not ok:
                self._failed_checks += 1
            if previous == ok:
                return
            failed, self._failed_checks = self._failed_checks, (0 if ok else 1)
            down_for = self._clock() - self._down_since
            if not ok:
                self._down_since = self._clock()
        if not ok:
            log.warning("redis_unreachable", service=service, error=error or "unknown")
        elif previous is False:
            log.info("redis_reachable", service=service, down_seconds=round(down_for, 1), failed_checks=failed)


class HealthState:
    """Liveness of one service's loop and of its Redis connection.

    Redis reachability is logged once per change (``redis_unreachable`` / ``redis_reachable``), not on every
    failed command, so an outage of an hour is two log lines per service; services of one process that share an
    ``outage_log`` make it two lines in all.
    """

    def __init__(
        self,
        stale_after: float = 60.0,
        *,
        name: str = "service",
        clock: Callable[[], float] = time.monotonic,
        outage_log: RedisOutageLog | None = None,
    ) -> None:
        self.stale_after, self.name, self._clock = stale_after, name, clock
        self._outage_log = outage_log or RedisOutageLog(clock)
        self._last_beat = clock()
        self._redis_ok: bool | None = None  # None: not known yet
        self._last_observed = float("-inf")
        self._details: dict[str, Any] = {}
        self._lock = threading.Lock()

    def set_detail(self, name: str, value: Any) -> None:
        """Show ``value`` under ``name`` in /healthz (a stream's backlog, a warning); None removes it.

        Details inform; they do not make the service unhealthy (a full stream is back-pressure, not a failure).
        """
        with self._lock:
            if value is None:
                self._details.pop(name, None)
            else:
                self._details[name] = value

    def warn(self, name: str, message: str) -> None:
        """A standing warning for /healthz (e.g. an eviction policy that can drop de-duplication keys)."""
        with self._lock:
            self._details.setdefault("warnings", {})[name] = message

    def beat(self, redis_ok: bool | None = None) -> None:
        """The loop ran an iteration; ``redis_ok``, when given, says whether Redis answered in it.

        A loop that beats without talking to Redis (the poller between polls) must not claim Redis is up:
        that would flap /healthz against the Redis watcher during an outage.
        """
        with self._lock:
            self._last_beat = self._clock()
        if redis_ok is not None:
            self.set_redis_ok(redis_ok)

    def set_redis_ok(self, ok: bool, error: str | None = None, observed_at: float | None = None) -> None:
        """Record whether Redis answered; log only when that changes.

        ``observed_at`` is when the command that tells began (monotonic): a PING that started during an
        outage and failed after Redis came back must not overrule a newer success, or the state would flap.
        """
        with self._lock:
            observed = self._clock() if observed_at is None else observed_at
            if observed < self._last_observed:
                return
            self._last_observed = observed
            self._redis_ok = ok
        self._outage_log.record(ok, service=self.name, error=error, observed_at=observed)

    @property
    def redis_ok(self) -> bool:
        """Whether Redis answered the last command (False until it first does)."""
        with self._lock:
            return bool(self._redis_ok)

    def status(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for the /healthz answer."""
        with self._lock:
            age = self._clock() - self._last_beat
            redis_ok = bool(self._redis_ok)
            details = {"redis": redis_ok, "loop_age_seconds": round(age, 1), **self._details}
            return redis_ok and age < self.stale_after, details


class HealthServer:
    """Serves /healthz and /metrics for a set of HealthStates (one per service in the process)."""

    def __init__(
        self, host: str, port: int, states: dict[str, HealthState], registry: CollectorRegistry = REGISTRY
    ) -> None:
        self.states, self.registry = states, registry
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Start serving in a background thread."""
        self._thread.start()
        log.info("health_server_started", host=self._server.server_address[0], port=self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Combined health of every service in this process."""
        results = {name: state.status() for name, state in self.states.items()}
        healthy = all(ok for ok, _ in results.values())
        return healthy, {name: details for name, (_ok, details) in results.items()}


def _make_handler(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
            elif self.path.split("?")[0] == "/healthz":
                ok, details = server.health()
                body = json.dumps({"ok": ok, "services": details}).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # Probes hit this every few seconds; access lines would drown the service's own log.

    return Handler

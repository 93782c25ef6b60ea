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


class HealthState:
    """Liveness of one service's loop and of its Redis connection.

    Redis reachability is logged once per change (``redis_unreachable`` / ``redis_reachable``), not on every
    failed command, so an outage of an hour is two log lines per service.
    """

    def __init__(
        self, stale_after: float = 60.0, *, name: str = "service", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after, self.name, self._clock = stale_after, name, clock
        self._last_beat = clock()
        self._redis_ok: bool | None = None  # None: not known yet (no log line for the first answer)
        self._down_since: float | None = None
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
            previous, self._redis_ok = self._redis_ok, ok
            if previous == ok:
                return
            now = self._clock()
            down_for = now - self._down_since if self._down_since is not None else None
            self._down_since = None if ok else now
        if not ok:
            log.warning("redis_unreachable", service=self.name, error=error or "unknown")
        elif previous is False:
            log.info("redis_reachable", service=self.name, down_seconds=round(down_for or 0.0, 1))

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

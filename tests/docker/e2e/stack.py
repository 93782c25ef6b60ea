"""The Compose stack under test, driven through the engine only: compose commands, ``podman exec`` and the two peers'
published loopback ports.

podman 4.3 runs no healthchecks by itself without systemd (they are systemd timers), so ``HealthPump`` plays the
timer: it runs ``podman healthcheck run`` for every container of the project, every few seconds until it is healthy
and then at the compose interval, so ``depends_on: condition: service_healthy`` progresses as on Docker.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.docker.e2e.engine import REPO_ROOT

COMPOSE_FILES = (REPO_ROOT / "docker-compose.yml", REPO_ROOT / "tests" / "docker" / "e2e" / "compose.e2e.yml")
SENTINEL_FILES = (
    REPO_ROOT / "docker-compose.sentinel.yml",
    REPO_ROOT / "tests" / "docker" / "e2e" / "compose.e2e.sentinel.yml",
)
STARTING_PROBE_EVERY = 3.0  # seconds between healthchecks of a container that is not healthy yet
HEALTHY_PROBE_EVERY = 30.0  # the compose files' interval


@dataclass
class Stack:
    """One compose project: its files, its .env, the engine's socket."""

    project: str
    env_file: Path
    docker_host: str
    compose_bin: str
    files: Sequence[Path] = COMPOSE_FILES

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``docker-compose -p PROJECT -f ... --env-file .env ARGS`` against the engine's socket."""
        argv = [self.compose_bin, "-p", self.project, "--env-file", str(self.env_file)]
        for path in self.files:
            argv += ["-f", str(path)]
        # A clean environment: compose lets process variables override the env file.
        environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_HOST": self.docker_host, "HOME": "/root"}
        result = subprocess.run(
            [*argv, *args], env=environ, capture_output=True, text=True, timeout=timeout, check=False,
            cwd=REPO_ROOT,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return result

    def containers(self, service: str | None = None, *, running_only: bool = True) -> list[str]:
        """Names of the project's (running) containers, of one service if given."""
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        argv = ["podman", "ps", *([] if running_only else ["-a"]), *filters, "--format", "{{.Names}}"]
        return sorted(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())

    def inspect(self, name: str) -> dict[str, Any]:
        """``podman inspect NAME``."""
        out = subprocess.run(["podman", "inspect", name], capture_output=True, text=True, check=True).stdout
        data: dict[str, Any] = json.loads(out)[0]
        return data

    def health(self, name: str) -> str:
        """healthy / unhealthy / starting, or "" without a healthcheck."""
        state = self.inspect(name)["State"]
        health = state.get("Health") or state.get("Healthcheck") or {}
        return str(health.get("Status", ""))

    def exec(self, name: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``podman exec NAME ARGV`` (as the container's own user)."""
        return subprocess.run(["podman", "exec", name, *argv], capture_output=True, text=True, timeout=120, check=check)

    def redis_cli(self, *args: str, service: str = "redis") -> str:
        """redis-cli inside the Redis container (it reads the password from REDISCLI_AUTH there)."""
        [name] = self.containers(service)
        return self.exec(name, "redis-cli", "--no-auth-warning", *args).stdout

    def wait(self, what: str, ready: Callable[[], bool], timeout: float, every: float = 1.0) -> float:
        """Poll ``ready`` until true; seconds taken. Fails with ``what`` after ``timeout``."""
        started = time.monotonic()
        while not ready():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")
            time.sleep(every)
        return time.monotonic() - started

    def all_healthy(self) -> bool:
        """Every running container with a healthcheck is healthy (and at least one is running)."""
        names = self.containers()
        return bool(names) and all(self.health(name) in ("healthy", "") for name in names)

    def logs(self, tail: int = 30) -> str:
        """The end of every service's log, for failure messages."""
        return self.compose("logs", "--no-color", "--tail", str(tail), check=False).stdout[-12000:]


class HealthPump:
    """Runs the containers' healthchecks the way systemd timers would (podman 4.3 without systemd runs none)."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._stop = threading.Event()
        self._last: dict[str, float] = {}
        self._without: set[str] = set()  # containers that have no healthcheck
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> HealthPump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            argv = ["podman", "ps", "--filter", f"label=com.docker.compose.project={self.project}"]
            listing = subprocess.run(
                [*argv, "--format", "{{.Names}} {{.Status}}"], capture_output=True, text=True, check=False
            ).stdout
            for line in listing.splitlines():
                name, _, status = line.partition(" ")
                every = HEALTHY_PROBE_EVERY if "(healthy)" in status else STARTING_PROBE_EVERY
                if name in self._without or time.monotonic() - self._last.get(name, 0.0) < every:
                    continue
                self._last[name] = time.monotonic()
                probe = subprocess.run(
                    ["podman", "healthcheck", "run", name], capture_output=True, text=True, check=False
                )
                if "no defined healthcheck" in probe.stderr or "no healthcheck" in probe.stderr:
                    self._without.add(name)


class Peers:
    """The feed server and the webhook receiver, reached on their published loopback ports."""

    def __init__(self, feed_port: int, receiver_port: int) -> None:
        self.feed = f"http://127.0.0.1:{feed_port}"
        self.receiver = f"http://127.0.0.1:{receiver_port}"

    def publish(self, items: list[dict[str, str]]) -> None:
        """Add items to the feed."""
        httpx.post(f"{self.feed}/items", json=items, timeout=30).raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        """Every request the receiver recorded, in order."""
        response = httpx.get(f"{self.receiver}/received", timeout=30)
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()
        return records

    def fetches(self) -> int:
        """How often the feed was fetched since its container started."""
        count: int = httpx.get(f"{self.feed}/fetches", timeout=10).json()["fetches"]
        return count

    def up(self) -> bool:
        """Both peers answer."""
        try:
            return all(httpx.get(f"{url}/healthz", timeout=5).status_code == 200 for url in (self.feed, self.receiver))
        except httpx.HTTPError:
            return False

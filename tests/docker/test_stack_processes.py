"""The compose stack without Docker: each replica in its own process, with exactly the command and environment
docker-compose.yml (and the image's ENV) give its container, runs an alert end to end, scaled as with
``docker compose up --scale classifier=2 --scale notifier=2``.

What differs from a container, and only that: Redis is a redis-server this test starts on a loopback port with the
compose file's password and AOF setting instead of the ``redis`` host; ``/config`` is a folder of this test's per
replica (the shipped config pointed at a local feed, with loopback allowed and free health ports, since the replicas
here share one network namespace); health servers bind 127.0.0.1 instead of 0.0.0.0; each replica's consumer name is
set to stand for its container's host name; PATH and HOME point at this venv and a temporary folder. As in the image,
whose runtime venv has no torch: each replica's HOME holds a copy of the model cache the build exports, and torch,
sentence-transformers, transformers and onnx are blocked from import (tests/without_torch), every attempt logged.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from standardwebhooks import Webhook

from services.classifier.onnx_export import OnnxModel
from shared.redis_server import RedisServer, free_port
from tests.docker.stack import (
    CONSOLE,
    IMAGE_SERVICES,
    REPO_ROOT,
    TEST_PASSWORD,
    TRIPWIRE_SERVICES,
    image_environment,
    resolved_compose,
    write_env_file,
)
from tests.helpers import pub_date, rss
from tripwire.local_http import LocalServer, Reply, static_files

pytestmark = [pytest.mark.slow, pytest.mark.model]
SECRET = "whsec_" + "ZG9ja2VyLXN0YWNrLXRlc3Qtc2VjcmV0LWtleQ=="
MATCHING = {
    "title": "US and Russian military convoys block each other near Qamishli",
    "description": "American and Russian armored vehicles faced off on a road in north-east Syria, then withdrew.",
    "link": "http://127.0.0.1/a/standoff",
    "guid": "docker-standoff",
    "pubDate": pub_date(),
}
NOT_MATCHING = {
    "title": "Bakery wins regional prize for its sourdough bread",
    "description": "The judges praised the crust and the long fermentation.",
    "link": "http://127.0.0.1/a/bakery",
    "guid": "docker-bakery",
    "pubDate": pub_date(),
}
DELIVERY_TIMEOUT = 240.0
CONSOLE_PASSWORD = "stack-console-password-" + "x" * 12
WITHOUT_TORCH = REPO_ROOT / "tests" / "without_torch"
BLOCKED_MARK = "without_torch: blocked import of"


# `docker compose up --scale classifier=2 --scale notifier=2`: replicas share the streams through consumer groups.
REPLICAS = {"poller": 1, "classifier": 2, "notifier": 2, CONSOLE: 1}


@dataclass
class Container:
    """One replica and what stands in for its container's surroundings."""

    service: str
    hostname: str
    redis_port: int
    config_dir: Path
    home: Path
    health_port: int

    def substitute(self, value: str) -> str:
        """A value as the container sees it -> the same value on this machine."""
        value = value.replace("@redis:6379/", f"@127.0.0.1:{self.redis_port}/")
        if value.startswith("/config/"):
            value = str(self.config_dir / value.removeprefix("/config/"))
        return value


def test_scaled_stack_runs_an_alert_end_to_end_with_each_replica_in_its_own_process(tmp_path: Path, embedder: Any):
    delivered = threading.Event()
    feed = LocalServer(static_files({"/feed.xml": rss([MATCHING, NOT_MATCHING])})).start()
    receiver = LocalServer(lambda _request: Reply(204), on_request=lambda _request: delivered.set()).start()
    env_file = write_env_file(
        tmp_path / ".env",
        REDIS_PASSWORD=TEST_PASSWORD,
        TRIPWIRE_WEBHOOK_URL=f"{receiver.url}/hook",
        TRIPWIRE_WEBHOOK_SECRET=SECRET,
        TRIPWIRE_CONSOLE_PASSWORD=CONSOLE_PASSWORD,
        TRIPWIRE_CONSOLE_SECRET="stack-console-session-key-" + "y" * 12,
    )
    compose = resolved_compose(env_file, tmp_path)
    redis_command = compose["services"]["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1] == TEST_PASSWORD
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    with RedisServer(tmp_path / "redis", password=TEST_PASSWORD, appendonly=True) as redis_server:
        containers = _containers(tmp_path, redis_server.port or 0, f"{feed.url}/feed.xml", embedder.model)
        try:
            with _running(compose, containers, tmp_path) as processes:
                assert delivered.wait(DELIVERY_TIMEOUT), _logs(tmp_path)
                # Every replica's compose healthcheck passes, idle ones included: their loops beat on empty reads.
                deadline = time.monotonic() + 60
                unhealthy = [c.hostname for c in containers]
                while unhealthy and time.monotonic() < deadline:
                    unhealthy = [c.hostname for c in containers if not _healthcheck_passes(compose, c)]
                    if unhealthy:
                        time.sleep(0.5)
                assert not unhealthy, f"healthchecks failing on {unhealthy}\n{_logs(tmp_path)}"
                console = next(c for c in containers if c.service == CONSOLE)
                assert MATCHING["title"] in _console_alerts_page(console.health_port), _logs(tmp_path)
                _report_memory(processes)
                for process in processes.values():
                    process.send_signal(signal.SIGTERM)
                for name, process in processes.items():
                    assert process.wait(timeout=60) == 0, f"{name} did not stop cleanly\n{_logs(tmp_path)}"
            # Whatever the stopped stack left in its streams is processed now, so the count below is final.
            for container in [c for c in containers if c.hostname in ("classifier-1", "notifier-1")]:
                drain = _start(compose, container, tmp_path, "--drain")
                assert drain.wait(timeout=180) == 0, _logs(tmp_path)
        finally:
            feed.stop()
            receiver.stop()
        with redis_server.client() as client:
            pending = client.xpending("tripwire:alerts", "notifier")
            consumers = client.xinfo_consumers("tripwire:items", "classifier")

    assert len(receiver.requests) == 1, _logs(tmp_path)
    tried = [log.name for log in tmp_path.glob("*.log") if BLOCKED_MARK in log.read_text(errors="replace")]
    assert not tried, f"{tried} tried to import the torch extra, which the image lacks\n{_logs(tmp_path)}"
    payload = Webhook(SECRET).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert payload["type"] == "alert"
    assert payload["data"]["topic"] == "us_russia_standoff"
    assert payload["data"]["item"]["title"] == MATCHING["title"]
    assert pending["pending"] == 0
    # Both classifier replicas joined the group: the work was shared, not duplicated.
    assert {"classifier-1", "classifier-2"} <= {consumer["name"].decode() for consumer in consumers}


def test_console_container_refuses_to_start_without_a_password(tmp_path: Path):
    compose = resolved_compose(write_env_file(tmp_path / ".env", REDIS_PASSWORD=TEST_PASSWORD), tmp_path)
    assert compose["services"][CONSOLE]["environment"]["TRIPWIRE_CONSOLE_PASSWORD"] == ""
    [console] = [c for c in _containers(tmp_path, free_port(), "http://127.0.0.1/feed.xml") if c.service == CONSOLE]
    # As in the container: --host 0.0.0.0, which only a password may open.
    process = _start(compose, console, tmp_path, keep_host=True)
    assert process.wait(timeout=120) == 2, _logs(tmp_path)
    log = _logs(tmp_path)
    assert "console.password is not set" in log and "TRIPWIRE_CONSOLE_PASSWORD" in log


def _console_alerts_page(port: int) -> str:
    """Log in to the console as a user of the published port would, and read the Alerts page."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        form = client.get("/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        login = client.post("/login", data={"password": CONSOLE_PASSWORD, "csrf": csrf, "next": "/alerts"})
        assert login.status_code == 303, login.text
        return client.get("/alerts").text


def _containers(root: Path, redis_port: int, feed_url: str, model: OnnxModel | None = None) -> list[Container]:
    """Every replica with its own /config copy: each container has its own network namespace, these share one.

    With ``model``, each HOME gets a copy of its folder in the default model cache, as the image's COPY of the cache.
    """
    containers = []
    for service, count in REPLICAS.items():
        for index in range(1, count + 1):
            hostname = f"{service}-{index}"
            ports = {name: free_port() for name in IMAGE_SERVICES}
            config_dir = _write_config(root / hostname / "config", feed_url, ports)
            home = root / hostname / "home"
            home.mkdir(parents=True)
            if model is not None:
                shutil.copytree(model.path.parent, home / ".cache" / "tripwire" / "models" / model.path.parent.name)
            containers.append(Container(service, hostname, redis_port, config_dir, home, ports[service]))
    return containers


def _write_config(config_dir: Path, feed_url: str, ports: dict[str, int]) -> Path:
    """The shipped config, unexpanded (its ${VAR}s still read the container's environment), pointed at 127.0.0.1."""
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"))
    config["feeds"] = [{"url": feed_url, "name": "Local feed"}]
    config["network"] = {"allow_private": ["127.0.0.0/8"]}
    config["health"] = {f"{service}_port": ports[service] for service in TRIPWIRE_SERVICES}
    config["console"]["port"] = ports[CONSOLE]
    config_dir.mkdir(parents=True)
    (config_dir / "tripwire.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config_dir


def _environment(compose: dict[str, Any], container: Container) -> dict[str, str]:
    """The image's ENV overlaid with the service's compose environment, as Docker builds it."""
    environ = {**image_environment(), **compose["services"][container.service]["environment"]}
    environ = {name: container.substitute(value) for name, value in environ.items()}
    environ["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    environ["HOME"] = str(container.home)
    environ["PYTHONPATH"] = str(WITHOUT_TORCH)  # the image's venv has no torch
    # The container binds 0.0.0.0 so Docker can probe it; a test listens on loopback only.
    assert environ["TRIPWIRE_HEALTH_HOST"] == "0.0.0.0"
    environ["TRIPWIRE_HEALTH_HOST"] = "127.0.0.1"
    # In Docker the consumer name defaults to the container's host name; these processes share one host name.
    environ["TRIPWIRE_CONSUMER"] = container.hostname
    leftovers = [name for name, value in environ.items() if "@redis:" in value or value.startswith("/config")]
    assert not leftovers, f"container-only values left in {leftovers}"
    return environ


def _start(
    compose: dict[str, Any], container: Container, logs: Path, *extra: str, keep_host: bool = False
) -> subprocess.Popen[bytes]:
    """ENTRYPOINT ["tripwire"] plus the service's compose command, in its own process."""
    command = [container.substitute(part) for part in compose["services"][container.service]["command"]]
    if "--host" in command and not keep_host:
        # The console binds 0.0.0.0 so the published port reaches it; a test listens on loopback only.
        assert command[command.index("--host") + 1] == "0.0.0.0"
        command[command.index("--host") + 1] = "127.0.0.1"
    argv = [str(Path(sys.executable).parent / "tripwire"), *command, *extra]
    environ = _environment(compose, container)
    # The child keeps its own copy of the descriptor; the parent closes its copy at once.
    with (logs / f"{container.hostname}{''.join(extra)}.log").open("ab") as log:
        return subprocess.Popen(argv, env=environ, cwd=container.home, stdout=log, stderr=log)


@contextmanager
def _running(
    compose: dict[str, Any], containers: list[Container], logs: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start every replica as a process; kill any still running on the way out."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for container in containers:
            processes[container.hostname] = _start(compose, container, logs)
        yield processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def _healthcheck_passes(compose: dict[str, Any], container: Container) -> bool:
    """Run the service's compose healthcheck (CMD form) with this replica's environment (its config names its port)."""
    test = compose["services"][container.service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    argv = [container.substitute(part) for part in test[1:]]
    argv[0] = str(Path(sys.executable).parent / argv[0])
    environ = _environment(compose, container)
    result = subprocess.run(argv, env=environ, cwd=container.home, capture_output=True, timeout=60, check=False)
    return result.returncode == 0


def _report_memory(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Resident memory of each service, for the compose memory limits (shown with pytest -s)."""
    for name, process in processes.items():
        rss_mb = psutil.Process(process.pid).memory_info().rss / 2**20
        print(f"docker-stack rss {name}: {rss_mb:.0f} MiB")


def _logs(folder: Path) -> str:
    """The end of each service's output, for failure messages."""
    logs = sorted(folder.glob("*.log"))
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)

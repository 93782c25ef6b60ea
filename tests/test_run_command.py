"""`tripwire run` as a user starts it: one process, embedded Redis, a feed and a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from shared.redis_server import free_port
from tests.conftest import REPO_ROOT
from tests.helpers import pub_date, rss
from tests.run_process import RunProcess, clean_copy, healthz, tripwire, user_env
from tests.run_process import wait_for as wait_until
from tripwire.local_http import LocalServer, Reply, static_files

pytestmark = [pytest.mark.model, pytest.mark.slow]

STANDOFF = {
    "title": "Russian troops block US convoy near Derik in north-east Syria",
    "description": "A Russian military patrol stopped an American convoy on the road to Derik; both sides withdrew.",
    "link": "http://127.0.0.1/a/derik",
    "guid": "run-derik",
    "pubDate": pub_date(),
}
USING_LINE = "tripwire: using the Redis of 'tripwire run' at "


def test_run_with_embedded_redis_delivers_and_stops_cleanly(tmp_path: Path) -> None:
    feed = LocalServer(static_files({"/feed.xml": rss([STANDOFF])})).start()
    receiver = LocalServer(lambda _request: Reply(204)).start()
    console_port = free_port()
    config = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text())
    config.update(
        data_dir=str(tmp_path / "data"),
        feeds=[{"url": f"{feed.url}/feed.xml"}],
        network={"allow_private": ["127.0.0.0/8"]},
        health={"poller_port": 0},
        console={"port": console_port},
        subscriptions=[{"name": "hook", "type": "webhook", "url": f"{receiver.url}/hook"}],
    )
    path = tmp_path / "tripwire.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT)}  # no REDIS_URL: embedded Redis
    process = subprocess.Popen(
        [sys.executable, "-m", "tripwire", "run", "--config", str(path), "--log-format", "json"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: len(receiver.requests) >= 1 or process.poll() is not None, 180, "a delivered alert")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        login = httpx.get(f"http://127.0.0.1:{console_port}/login", timeout=10, follow_redirects=True)
        assert login.status_code == 200 and "Tripwire" in login.text  # the console is part of `tripwire run`
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("redis-server" in child.name() for child in children)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        feed.stop()
        receiver.stop()

    assert process.returncode == 0, err
    assert json.loads(receiver.requests[0].body)["data"]["item"]["title"] == STANDOFF["title"]
    assert (tmp_path / "data" / "redis").is_dir()  # the embedded Redis keeps its data under data_dir
    assert all(not child.is_running() for child in children)
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "shutdown_requested" in events


def shipped_config_on_loopback(clone: Path, feed_url: str, health_port: int, console_port: int) -> Path:
    """The clone's shipped config with its feeds replaced by one on 127.0.0.1 and free ports; data_dir untouched."""
    path = clone / "config" / "tripwire.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["data_dir"] == ".tripwire"  # relative, as shipped: the case that crashed (issue 25, #1)
    config.update(
        feeds=[{"url": feed_url, "name": "Local feed"}],
        network={"allow_private": ["127.0.0.0/8"]},  # the only peer is on loopback
        health={"poller_port": health_port, "classifier_port": free_port(), "notifier_port": free_port()},
        console={**config["console"], "port": console_port},
    )
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def using_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(USING_LINE)]


def test_run_from_a_clean_copy_with_the_shipped_config_and_the_cli_finds_its_redis(tmp_path: Path) -> None:
    """Issue 25 #1 and #2: the shipped relative data_dir works, and the other commands use run's Redis."""
    clone = clean_copy(tmp_path / "clone")
    feed = LocalServer(static_files({"/feed.xml": rss([STANDOFF])})).start()
    health_port, console_port = free_port(), free_port()
    config = shipped_config_on_loopback(clone, f"{feed.url}/feed.xml", health_port, console_port)
    env = user_env(clone)
    run = RunProcess(clone, env)  # no --config, no REDIS_URL: as the README's first command
    try:
        wait_until(
            lambda: healthz(health_port)[0] == 200 or not run.alive, 240, "every service's /healthz"
        )  # fmt: skip
        assert run.alive, run.log_text()
        status, body = healthz(health_port)
        assert status == 200 and sorted(body["services"]) == ["classifier", "notifier", "poller"]
        assert all(service["redis"] for service in body["services"].values())
        login = httpx.get(f"http://127.0.0.1:{console_port}/login", timeout=10, follow_redirects=True)
        assert login.status_code == 200

        # The data_dir of config/tripwire.yaml is config/.tripwire, and run says where its Redis listens at once.
        data_dir = clone / "config" / ".tripwire"
        address = data_dir / "redis.url"
        url = address.read_text().strip()
        written = [doc for doc in run.events()[:5] if doc["event"] == "redis_address_written"]
        assert len(written) == 1 and (written[0]["path"], written[0]["url"]) == (str(address), url)
        assert (data_dir / "redis" / "appendonlydir").is_dir()
        wait_until(lambda: "feed_polled" in {doc["event"] for doc in run.events()}, 60, "the local feed polled")

        # Issue 25 #2: the commands that stopped with "needs REDIS_URL" use run's Redis and say so on one line.
        outputs = {}
        for args in (["feeds", "--json"], ["stories", "--json"], ["dlq", "list"], ["backtest", "--since", "1h"]):
            result = tripwire(*args, cwd=clone, env=env)
            assert result.returncode == 0, (args, result.stderr)
            assert using_lines(result) == [f"{USING_LINE}{url} (from {address})"], (args, result.stderr)
            outputs[args[0]] = result.stdout
        feeds = json.loads(outputs["feeds"])["feeds"]  # stdout is the JSON alone: the using line is on stderr
        assert [row["url"] for row in feeds] == [f"{feed.url}/feed.xml"] and feeds[0]["last_success"]
        # From another directory, through the same config file: the same data_dir, the same Redis.
        elsewhere = tripwire("feeds", "--config", str(config), cwd=tmp_path, env=env)
        assert elsewhere.returncode == 0 and using_lines(elsewhere) == [f"{USING_LINE}{url} (from {address})"]
        # The console on its own, beside run (another port, the same folder, so the same data_dir).
        console_config = clone / "config" / "console-only.yaml"
        console_doc = yaml.safe_load(config.read_text())
        console_doc["console"]["port"] = other_port = free_port()
        console_config.write_text(yaml.safe_dump(console_doc, allow_unicode=True))
        console = subprocess.Popen(
            [sys.executable, "-m", "tripwire", "console", "--config", str(console_config)],
            cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_until(lambda: _answers(other_port) or console.poll() is not None, 120, "tripwire console")
            assert console.poll() is None
            console.send_signal(signal.SIGTERM)
            _out, console_err = console.communicate(timeout=60)
            assert console.returncode == 0 and f"{USING_LINE}{url}" in console_err
        finally:
            if console.poll() is None:
                console.kill()

        redis_pids = [child.pid for child in run.redis_children()]
        assert run.terminate() == 0, run.log_text()
    finally:
        run.stop()
        feed.stop()

    assert not address.exists()  # withdrawn: no later command is sent to a port nobody checked
    assert not any(psutil.pid_exists(pid) for pid in redis_pids)
    assert "shutdown_requested" in {doc["event"] for doc in run.events()}
    assert "Traceback" not in run.log_text()
    after = tripwire("feeds", cwd=clone, env=env)
    assert after.returncode == 2 and "no 'tripwire run' of this config is running" in after.stderr
    assert "6379" not in after.stderr and "localhost" not in after.stderr


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/login", timeout=2, follow_redirects=True).status_code == 200
    except httpx.HTTPError:
        return False

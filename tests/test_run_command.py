"""`tripwire run` as a user starts it: one process, embedded Redis, a feed and a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from shared.redis_server import free_port
from tests.conftest import REPO_ROOT
from tests.helpers import pub_date, rss
from tripwire.local_http import LocalServer, Reply, static_files

pytestmark = [pytest.mark.model, pytest.mark.slow]

STANDOFF = {
    "title": "Russian troops block US convoy near Derik in north-east Syria",
    "description": "A Russian military patrol stopped an American convoy on the road to Derik; both sides withdrew.",
    "link": "http://127.0.0.1/a/derik",
    "guid": "run-derik",
    "pubDate": pub_date(),
}


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


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
        wait_for(lambda: len(receiver.requests) >= 1 or process.poll() is not None, 180, "a delivered alert")
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

"""`tripwire run` looks after its own Redis: killed mid-stream, it is reaped and restarted on the same port and AOF.

Items flow from a feed on 127.0.0.1 through the one `run` process to a webhook receiver on 127.0.0.1 while the
embedded redis-server is killed twice: once to come straight back, once with its AOF manifest unreadable for a
while, so the outage lasts long enough for /healthz to say so. Every item must arrive exactly once (counted as a
list), and the outage must be logged once when it starts and once when it ends, without a traceback.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from shared.redis_server import free_port
from tests.helpers import pub_date, rss
from tests.reliability.support import config_doc, item_link, matching_text, write_config
from tests.run_process import RunProcess, healthz, user_env, wait_for
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

pytestmark = [pytest.mark.slow, pytest.mark.model]
REPO_ROOT = Path(__file__).resolve().parents[2]


class GrowingFeed:
    """An RSS feed on 127.0.0.1 whose items are added by the test while `run` polls it every second."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self.server = LocalServer(self._answer).start()

    def add(self, how_many: int) -> None:
        with self._lock:
            self.count += how_many

    def _answer(self, _request: ReceivedRequest) -> Reply:
        with self._lock:
            numbers = range(self.count)
        items = []
        for n in numbers:
            title, summary = matching_text(n)
            link = item_link("m", n)
            items.append({"title": title, "description": summary, "link": link, "guid": link, "pubDate": pub_date()})
        return Reply(200, rss(items), {"Content-Type": "application/rss+xml"})


def delivered_links(receiver: LocalServer) -> list[str]:
    """Item links in the order the receiver got them: a list, so a second delivery counts twice."""
    return [json.loads(request.body)["data"]["item"]["link"] for request in list(receiver.requests)]


def test_run_restarts_its_killed_redis_and_every_item_arrives_once(tmp_path: Path) -> None:
    feed = GrowingFeed()
    receiver = LocalServer(lambda _request: Reply(204)).start()
    health_port = free_port()
    doc = config_doc({"receiver": f"{receiver.url}/hook"}, feeds=[f"{feed.server.url}/feed.xml"], ports=(0, 0, 0))
    doc.update(data_dir="state", health={"host": "127.0.0.1", "poller_port": health_port}, console={"port": 0})
    config = write_config(tmp_path / "tripwire.yaml", doc)
    data_dir = tmp_path / "state"  # relative in the file: taken from the config file's directory
    run = RunProcess(tmp_path, user_env(REPO_ROOT), "--config", str(config))

    def arrived(n: int) -> bool:
        return len(set(delivered_links(receiver))) >= n

    try:
        wait_for(lambda: healthz(health_port)[0] == 200 or not run.alive, 240, "run healthy")
        assert run.alive, run.log_text()
        url = (data_dir / "redis.url").read_text().strip()
        feed.add(10)
        wait_for(lambda: arrived(10), 120, "the first 10 alerts")

        # 1. Killed mid-stream (SIGKILL, as the OOM killer does) while new items are on their way in.
        feed.add(10)
        [first] = run.redis_children()
        first.kill()
        wait_for(lambda: [p.pid for p in run.redis_children()] not in ([], [first.pid]), 60, "a new redis-server")
        assert not psutil.pid_exists(first.pid)  # reaped: no zombie left behind
        assert (data_dir / "redis.url").read_text().strip() == url  # same port
        wait_for(lambda: arrived(20), 120, "20 alerts after the first restart")

        # 2. An outage long enough to see: the AOF manifest unreadable, so restarts fail until it is put back.
        manifest = data_dir / "redis" / "appendonlydir" / "appendonly.aof.manifest"
        good = manifest.read_bytes()
        manifest.write_bytes(b"unreadable for a while\n")
        [second] = run.redis_children()
        second.kill()
        wait_for(lambda: healthz(health_port)[0] == 503, 60, "/healthz 503 while Redis is down")
        feed.add(10)  # published during the outage: polled once Redis is back
        wait_for(lambda: run.events("redis_server_restart_failed"), 60, "a failed restart")
        time.sleep(5)  # a few more failed restarts and checks meanwhile: they must not add a line each
        assert healthz(health_port)[0] == 503
        manifest.write_bytes(good)
        wait_for(lambda: healthz(health_port)[0] == 200, 120, "/healthz 200 once Redis is back")
        assert not psutil.pid_exists(second.pid)
        wait_for(lambda: arrived(30), 180, "all 30 alerts")
        assert run.alive
        assert run.terminate() == 0, run.log_text()
    finally:
        run.stop()
        feed.server.stop()
        receiver.stop()

    links = delivered_links(receiver)
    expected = [item_link("m", n) for n in range(30)]
    assert Counter(links) == Counter(expected), [link for link, times in Counter(links).items() if times > 1]
    assert (data_dir / "redis.url").exists() is False
    # Logged once when it starts and once when it ends, per outage; never a traceback, never an error per attempt.
    assert len(run.events("redis_server_exited")) == 2
    assert len(run.events("redis_server_restarted")) == 2
    assert len(run.events("redis_server_restart_failed")) == 1
    unreachable, reachable = run.events("redis_unreachable"), run.events("redis_reachable")
    assert 1 <= len(unreachable) <= 2 and len(reachable) == len(unreachable)
    assert reachable[-1]["failed_checks"] >= 1 and reachable[-1]["down_seconds"] > 0
    errors = [doc for doc in run.events() if doc["level"] == "error" and doc["event"] != "redis_server_restart_failed"]
    assert errors == []
    assert "Traceback" not in run.log_text()

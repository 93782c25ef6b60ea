"""Redis killed and restarted (AOF) in the middle of a run: services stay up, report it, and lose nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shared.redis_server import RedisServer, free_port
from tests.helpers import rss
from tests.reliability.support import (
    ServiceProcess,
    config_doc,
    health_status,
    item_link,
    make_item,
    receiver_links,
    wait_until,
    write_config,
)
from tripwire.local_http import LocalServer, Reply

# The test's own waits add up to 510 s (healthy 120, deliveries 60 + 90, health flips 2 x 60, pending 30, stops):
# above pytest's default 300 s, so the limit is raised past them and a wait fails first, naming what it waited for.
pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.timeout(700)]
ITEMS = "tripwire:items"


def publish_items(server: RedisServer, numbers: range) -> None:
    """Publish matching and non-matching items as the poller would."""
    redis = server.client()
    try:
        for n in numbers:
            for kind in ("m", "o"):
                redis.xadd(ITEMS, {"data": make_item(kind, n).to_json()}, maxlen=100_000, approximate=True)
    finally:
        redis.close()


def test_services_ride_out_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    receiver = LocalServer(lambda _request: Reply(204)).start()
    # An empty feed the poller polls every second, so the poller meets the outage too (its once-per-change logging
    # is held here, by the real process, not only by a unit test).
    feed = LocalServer(lambda _request: Reply(200, rss([]), {"Content-Type": "application/rss+xml"})).start()
    poller_port, classifier_port, notifier_port = free_port(), free_port(), free_port()
    config = write_config(
        tmp_path / "tripwire.yaml",
        config_doc(
            {"receiver": f"{receiver.url}/hook"},
            feeds=[f"{feed.url}/feed.xml"],
            ports=(poller_port, classifier_port, notifier_port),
        ),
    )
    services = [
        ServiceProcess("poller", config, "p1", server.url, tmp_path),
        ServiceProcess("classifier", config, "c1", server.url, tmp_path),
        ServiceProcess("notifier", config, "n1", server.url, tmp_path),
    ]
    ports = [poller_port, classifier_port, notifier_port]
    try:
        for service in services:
            service.start()
        wait_until(lambda: all(health_status(port) == 200 for port in ports), 120, "both services healthy")
        publish_items(server, range(20))
        wait_until(lambda: len(receiver_links(receiver)) == 20, 60, "the first 20 alerts delivered")

        server.kill()
        wait_until(lambda: all(health_status(port) == 503 for port in ports), 60, "/healthz 503 while Redis is down")
        server.start()  # same port, same data directory: the AOF brings back streams, groups and pending entries
        wait_until(lambda: all(health_status(port) == 200 for port in ports), 60, "/healthz 200 once Redis is back")
        publish_items(server, range(20, 40))
        wait_until(lambda: len(receiver_links(receiver)) == 40, 90, "all 40 alerts delivered")
        wait_until(lambda: _pending(server) == 0, 30, "no entry left pending")

        links = receiver_links(receiver)
        assert set(links) == {item_link("m", n) for n in range(40)}
        # Redis died between a send and its record at most for the one delivery in flight: a repeat carries the same
        # webhook-id, and at most one alert is repeated.
        assert all(len(set(ids)) == 1 for ids in links.values()), links
        assert sum(len(ids) for ids in links.values()) <= 41, links
        assert all(service.alive for service in services)
        for service in services:
            # One line per state change, not one per failed command.
            assert service.logged("redis_unreachable") == 1, service.log_path
            assert service.logged("redis_reachable") == 1, service.log_path
        metrics = httpx.get(f"http://127.0.0.1:{classifier_port}/metrics", timeout=5).text
        assert 'tripwire_stream_length{stream="tripwire:items"}' in metrics
        assert 'tripwire_pending_entries{group="classifier",stream="tripwire:items"}' in metrics
        for service in services:
            service.terminate()
            assert service.wait(30) == 0
    finally:
        for service in services:
            service.stop()
        receiver.stop()
        feed.stop()
        server.stop()


def _pending(server: RedisServer) -> int:
    redis = server.client()
    try:
        return int(redis.xpending(ITEMS, "classifier")["pending"]) + int(
            redis.xpending("tripwire:alerts", "notifier")["pending"]
        )
    finally:
        redis.close()

"""SIGTERM mid-batch on a real notifier process: finish within the grace period, or leave the batch pending."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.redis_server import RedisServer
from tests.reliability.support import (
    ServiceProcess,
    config_doc,
    item_link,
    make_alert,
    receiver_links,
    wait_until,
    write_config,
)
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

pytestmark = pytest.mark.slow
ALERTS = "tripwire:alerts"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own."""
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        yield redis_server


@pytest.mark.parametrize("within_grace", [True, False], ids=["finishes", "left-pending"])
def test_sigterm_mid_batch(server: RedisServer, tmp_path: Path, within_grace: bool) -> None:
    release = threading.Event()

    def slow_receiver(_request: ReceivedRequest) -> Reply:
        release.wait(timeout=60)  # holds the notifier inside its batch until the test lets go
        return Reply(204)

    receiver = LocalServer(slow_receiver).start()
    redis = server.client()
    grace = "20s" if within_grace else "200ms"
    config = write_config(
        tmp_path / "tripwire.yaml",
        config_doc({"receiver": f"{receiver.url}/hook"}, streams={"shutdown_grace": grace}),
    )
    notifier = ServiceProcess("notifier", config, "n1", server.url, tmp_path)
    try:
        for n in range(3):
            redis.xadd(ALERTS, {"data": make_alert(n).to_json()})
        notifier.start()
        wait_until(lambda: len(receiver.requests) >= 1, 60, "the notifier to be inside its batch")
        notifier.terminate()
        if within_grace:
            wait_until(lambda: notifier.logged("shutdown_finishing_batch") == 1, 30, "the notifier to finish its batch")
            release.set()
            assert notifier.wait(30) == 0
            assert redis.xpending(ALERTS, "notifier")["pending"] == 0
        else:
            assert notifier.wait(30) == 0
            assert notifier.logged("shutdown_batch_left_pending") == 1
            assert redis.xpending(ALERTS, "notifier")["pending"] == 3  # nothing acked that was not done
            release.set()
            notifier.start("--drain")  # the same consumer re-reads its pending entries first
            assert notifier.wait(60) == 0
            assert redis.xpending(ALERTS, "notifier")["pending"] == 0
        links = receiver_links(receiver)
        assert set(links) == {item_link("m", n) for n in range(3)}
        assert all(len(ids) == 1 for ids in links.values())  # a repeat carries the same webhook-id
    finally:
        release.set()
        notifier.stop()
        receiver.stop()
        redis.close()

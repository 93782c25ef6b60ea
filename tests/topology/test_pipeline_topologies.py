"""The whole pipeline (poller -> classifier -> notifier -> a receiver on 127.0.0.1) on a 3-master Redis Cluster and
behind 3 Sentinels, through the death of a primary: every alert is delivered, and each carries one webhook-id
(a repeat, if any, reuses it, so the receiver can drop it).

Run alone with ``pytest tests/topology``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from shared.streams import StreamNames
from tests.helpers import pub_date, rss
from tests.reliability.support import (
    ServiceProcess,
    config_doc,
    item_link,
    matching_text,
    other_text,
    wait_until,
    write_config,
)
from tests.topology.servers import LocalCluster, LocalSentinels
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

# A failover run waits up to 180 + 180 s for deliveries and 60 s per stopped service, after the servers' own start and
# failover waits: above pytest's default 300 s, so the limit is raised past them and a wait fails first, with a message.
pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.timeout(1000)]
MATCHING = 24
SERVICES = ("poller", "classifier", "notifier")


class RevealingFeed:
    """An RSS feed that shows the items revealed so far (matching and other, interleaved)."""

    def __init__(self) -> None:
        when = pub_date(datetime.now(UTC))
        self.items: list[dict[str, str]] = []
        for n in range(MATCHING):
            for kind, text in (("m", matching_text), ("o", other_text)):
                title, summary = text(n)
                link = item_link(kind, n)
                self.items.append({"title": title, "description": summary, "link": link, "guid": link, "pubDate": when})
        self.shown = 0
        self._lock = threading.Lock()
        self.server = LocalServer(self._respond)

    def reveal(self, matching: int) -> None:
        """Show the first ``matching`` matching items (and the other items between them)."""
        with self._lock:
            self.shown = 2 * matching

    def _respond(self, _request: ReceivedRequest) -> Reply:
        with self._lock:
            shown = self.items[: self.shown]
        return Reply(200, rss(list(reversed(shown))), {"Content-Type": "application/rss+xml"})


def webhook_ids_by_link(receiver: LocalServer) -> dict[str, list[str]]:
    """Item link -> every webhook-id the receiver got for it, repeats included (a list, not a set)."""
    import json

    got: dict[str, list[str]] = {}
    for request in list(receiver.requests):
        got.setdefault(json.loads(request.body)["data"]["item"]["link"], []).append(request.headers["webhook-id"])
    return got


def run_through_failover(
    tmp_path: Path, redis_doc: dict[str, Any], redis_url: str, fail_over: Callable[[], None]
) -> dict[str, list[str]]:
    """Deliver half the alerts, reveal the rest and kill the primary at once; return what the receiver got."""
    feed = RevealingFeed()
    feed.server.start()
    receiver = LocalServer(lambda _request: Reply(204)).start()
    doc = config_doc({"alpha": f"{receiver.url}/hook"}, feeds=[f"{feed.server.url}/feed.xml"])
    doc["redis"].update(redis_doc)
    doc["streams"]["reconnect_max_backoff"] = "1s"
    config = write_config(tmp_path / "tripwire.yaml", doc)
    processes = [ServiceProcess(name, config, name, redis_url, tmp_path).start() for name in SERVICES]
    try:
        feed.reveal(MATCHING // 2)
        wait_until(lambda: len(webhook_ids_by_link(receiver)) >= MATCHING // 2, 180, "the first half delivered")
        feed.reveal(MATCHING)
        fail_over()  # while the second half is being polled, classified and delivered
        wait_until(lambda: len(webhook_ids_by_link(receiver)) >= MATCHING, 180, "every alert delivered")
        for process in processes:
            assert process.alive, f"{process.service} died: see {process.log_path}"
            process.terminate()
            assert process.wait(60) == 0
        return webhook_ids_by_link(receiver)
    finally:
        for process in processes:
            process.stop()
        feed.server.stop()
        receiver.stop()


def assert_each_delivered_once(got: dict[str, list[str]]) -> None:
    """Every matching item arrived; all arrivals of one item carry the same webhook-id."""
    expected = {item_link("m", n) for n in range(MATCHING)}
    assert set(got) == expected, f"lost: {sorted(expected - set(got))}"
    new_ids = {link: ids for link, ids in got.items() if len(set(ids)) != 1}
    assert not new_ids, f"a repeat carried a new webhook-id: {new_ids}"


def test_pipeline_on_a_cluster_rides_out_a_master_killed_mid_run(tmp_path: Path, cluster: LocalCluster) -> None:
    names = StreamNames("tripwire:", cluster=True)
    killed: list[int] = []
    got = run_through_failover(
        tmp_path, {"mode": "cluster"}, cluster.url, lambda: killed.append(cluster.kill_master_of(names.items).port)
    )
    assert_each_delivered_once(got)
    survivor = cluster.alive()[0]
    client = RedisCluster(host="127.0.0.1", port=survivor.port)
    try:
        assert client.xlen(names.dlq) == 0
        # The keys are spread: the items stream, the notifier's state and the alerts stream are not all on one master.
        slots = {client.keyslot(key) for key in (names.items, names.dlq, names.alerts)}  # type: ignore[no-untyped-call]
        assert len(slots) == 3
    finally:
        client.close()
    assert killed


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[LocalSentinels]:
    """A primary, a replica and 3 Sentinels."""
    group = LocalSentinels(tmp_path / "sentinel")
    yield group
    group.stop()


def test_pipeline_behind_sentinels_rides_out_a_failover(tmp_path: Path, sentinels: LocalSentinels) -> None:
    redis_doc = {"mode": "sentinel", "sentinels": sentinels.addresses, "service_name": sentinels.service}
    got = run_through_failover(tmp_path, redis_doc, "", sentinels.kill_primary)  # no REDIS_URL: the Sentinels say
    assert_each_delivered_once(got)
    client = redis.Redis(port=sentinels.replica.port)
    try:
        assert client.info("replication")["role"] == "master"
        assert client.xlen("tripwire:dlq") == 0
    finally:
        client.close()

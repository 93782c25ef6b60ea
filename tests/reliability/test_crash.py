"""The crash test: poller, classifier and notifier as separate processes; classifier and notifier SIGKILLed
at random moments and restarted. Every matching item must reach every subscriber, once after dedupe."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from shared.redis_server import RedisServer
from tests.helpers import pub_date, rss
from tests.reliability.support import (
    ServiceProcess,
    config_doc,
    item_link,
    matching_text,
    other_text,
    receiver_links,
    wait_until,
    write_config,
)
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

# pytest's default timeout (300 s) is shorter than this test's own waits added up (deliveries 2 x 240, publish 120,
# settle 120, the kill plan 300, three stops 60 each: 1,320 s): on a loaded machine pytest would kill it before one of
# its waits could fail with a message naming what it waited for. The waits, not pytest, set the limit.
pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.timeout(1500)]
SEED = 20261121
MATCHING = OTHER = 200
KILLS = 3  # per service; each classifier restart loads the model (~10 s on 2 cores)
PER_POLL = 25  # items the feed reveals per request, so work keeps arriving while services restart
ITEMS, ALERTS = "tripwire:items", "tripwire:alerts"


def feed_items() -> list[dict[str, str]]:
    """400 RSS items, matching and non-matching interleaved."""
    when = pub_date(datetime.now(UTC))
    items = []
    for n in range(MATCHING):
        for kind, text in (("m", matching_text), ("o", other_text)):
            title, summary = text(n)
            link = item_link(kind, n)
            items.append({"title": title, "description": summary, "link": link, "guid": link, "pubDate": when})
    return items


def growing_feed(items: list[dict[str, str]]) -> Callable[[ReceivedRequest], Reply]:
    """A feed that is empty on the first request, then shows ``PER_POLL`` more items on each request."""
    requests = 0
    lock = threading.Lock()

    def respond(_request: ReceivedRequest) -> Reply:
        nonlocal requests
        with lock:
            shown = items[: max(0, requests * PER_POLL)]
            requests += 1
        return Reply(200, rss(list(reversed(shown))), {"Content-Type": "application/rss+xml"})

    return respond


class Service:
    """The current process of one service, restarted after each kill (sometimes under a new consumer name)."""

    def __init__(self, name: str, config: Path, url: str, logs: Path) -> None:
        self.name, self.config, self.url, self.logs = name, config, url, logs
        self.restarts = 0
        self.process = ServiceProcess(name, config, f"{name}-0", url, logs).start()

    def kill_and_restart(self) -> None:
        """SIGKILL; the replacement alternates between the same name (re-reads its pending entries) and a new
        one (the dead consumer's entries must be taken over by the sweep), as a container restart would."""
        self.process.kill()
        self.restarts += 1
        consumer = f"{self.name}-{self.restarts // 2}"
        self.process = ServiceProcess(self.name, self.config, consumer, self.url, self.logs).start()


def test_crash_test(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    server = RedisServer(tmp_path / "redis", appendonly=False)
    server.start()
    client = redis.Redis.from_url(server.url)
    feed = LocalServer(growing_feed(feed_items())).start()
    receivers = {name: LocalServer(lambda _request: Reply(204)).start() for name in ("alpha", "beta")}
    config = write_config(
        tmp_path / "tripwire.yaml",
        config_doc(
            {name: f"{receiver.url}/hook" for name, receiver in receivers.items()},
            feeds=[f"{feed.url}/feed.xml"],
            streams={"reclaim_idle": "10s"},  # short, so a dead consumer's entries are taken over within the test
        ),
    )
    poller = ServiceProcess("poller", config, "poller", server.url, tmp_path).start()
    services = {name: Service(name, config, server.url, tmp_path) for name in ("classifier", "notifier")}
    progress = {
        "classifier": lambda: int(client.xlen(ALERTS)),
        "notifier": lambda: sum(len(receiver.requests) for receiver in receivers.values()),
    }
    # Kill when a service has made this much progress (alerts published / requests received), plus a random
    # moment; thresholds stay below the totals the run is sure to reach, so every kill happens.
    limits = {"classifier": MATCHING - 1, "notifier": 2 * MATCHING - 1}
    plans = {name: sorted(rng.randrange(10, limits[name]) for _ in range(KILLS)) for name in services}
    try:
        kill_services(services, plans, progress, limits, rng)
        for name, receiver in receivers.items():
            wait_until(lambda r=receiver: len(receiver_links(r)) >= MATCHING, 240, f"{name}: all alerts delivered")
        wait_until(lambda: client.xlen(ITEMS) == MATCHING + OTHER, 120, "the poller to publish every item")
        wait_until(lambda: _settled(client), 120, "every entry classified, delivered and acked")

        expected = {item_link("m", n) for n in range(MATCHING)}
        for name, receiver in receivers.items():
            links = receiver_links(receiver)
            assert set(links) == expected, f"{name}: lost {sorted(expected - set(links))[:5]}"
            # SIGKILL between a send and its record repeats that delivery (at least once): a repeat must carry the
            # same webhook-id, so a receiver that dedupes on it sees each alert once.
            repeats = {link: ids for link, ids in links.items() if len(set(ids)) != 1}
            assert not repeats, f"{name}: a repeat delivery carried a new webhook-id: {repeats}"
            ids = [ids[0] for ids in links.values()]
            assert len(set(ids)) == len(ids)
        assert client.xlen("tripwire:dlq") == 0
        assert all(service.restarts == KILLS for service in services.values())
        for process in [poller] + [service.process for service in services.values()]:
            process.terminate()
            assert process.wait(60) == 0
    finally:
        poller.stop()
        for service in services.values():
            service.process.stop()
        feed.stop()
        for receiver in receivers.values():
            receiver.stop()
        client.close()
        server.stop()


def kill_services(
    services: dict[str, Service],
    plans: dict[str, list[int]],
    progress: dict[str, Callable[[], int]],
    limits: dict[str, int],
    rng: random.Random,
) -> None:
    """Kill each service when its progress passes the next threshold of its plan; restart it at once."""
    floors = dict.fromkeys(plans, 0)
    deadline = time.monotonic() + 300
    while any(plans.values()):
        for name, plan in plans.items():
            if plan and progress[name]() >= min(max(plan[0], floors[name]), limits[name]):
                # Not synchronisation: a random extra delay so kills do not always land on a poll boundary.
                time.sleep(rng.uniform(0, 0.3))
                services[name].kill_and_restart()
                plan.pop(0)
                floors[name] = progress[name]() + 3  # the next kill only after the new process made progress
        assert time.monotonic() < deadline, f"kills left undone: {plans}"
        time.sleep(0.02)


def _settled(client: redis.Redis) -> bool:
    """Nothing pending and nothing undelivered in either group."""
    for stream, group in ((ITEMS, "classifier"), (ALERTS, "notifier")):
        for info in client.xinfo_groups(stream):
            if info["name"].decode() == group and (info["pending"] or info.get("lag")):
                return False
    return True

"""Four classifier and two notifier processes on one Redis: every alert delivered once per subscription."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.redis_server import RedisServer, free_port
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

# The test's own waits add up to 960 s (healthy 180, deliveries 2 x 180, settle 60, six stops 60 each): above
# pytest's default 300 s, so the limit is raised past them and a wait fails first, naming what it waited for.
pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.timeout(1200)]
MATCHING = OTHER = 100
# No crash here: a reclaim bound above any batch time keeps live consumers' entries from being taken over.
STREAMS = {"reclaim_idle": "60s"}
# Four model processes on two cores: one torch thread each instead of each claiming every core.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
ITEMS = "tripwire:items"


def test_four_classifiers_and_two_notifiers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=False)
    server.start()
    client = server.client()
    receivers = {name: LocalServer(lambda _request: Reply(204)).start() for name in ("alpha", "beta")}
    urls = {name: f"{receiver.url}/hook" for name, receiver in receivers.items()}
    processes, ports = [], []
    for service, count in (("classifier", 4), ("notifier", 2)):
        for index in range(count):
            port = free_port()
            ports.append(port)
            health = (0, port, 0) if service == "classifier" else (0, 0, port)
            config = write_config(tmp_path / f"{service}-{index}.yaml", config_doc(urls, ports=health, streams=STREAMS))
            processes.append(
                ServiceProcess(service, config, f"{service}-{index}", server.url, tmp_path, env=ONE_THREAD)
            )
    try:
        for process in processes:
            process.start()
        wait_until(lambda: all(health_status(port) == 200 for port in ports), 180, "all six processes healthy")
        for n in range(MATCHING):
            for kind in ("m", "o"):
                client.xadd(ITEMS, {"data": make_item(kind, n).to_json()}, maxlen=100_000, approximate=True)

        for name, receiver in receivers.items():
            wait_until(lambda r=receiver: len(receiver_links(r)) >= MATCHING, 180, f"{name}: every alert delivered")
        wait_until(lambda: _settled(client), 60, "every entry acked")

        expected = {item_link("m", n) for n in range(MATCHING)}
        for name, receiver in receivers.items():
            links = receiver_links(receiver)
            assert set(links) == expected, name
            # Nothing crashes here, so "each alert delivered once however many run" means one request per alert.
            repeats = {link: ids for link, ids in links.items() if len(ids) != 1}
            assert not repeats, f"{name}: delivered more than once: {repeats}"
        # The work was shared, not done by whichever process started first.
        classifiers = [p for p in processes if p.service == "classifier"]
        assert sum(1 for p in classifiers if p.logged("alert_created") > 0) >= 2
        for process in processes:
            process.terminate()
            assert process.wait(60) == 0
    finally:
        for process in processes:
            process.stop()
        for receiver in receivers.values():
            receiver.stop()
        client.close()
        server.stop()


def _settled(client) -> bool:  # type: ignore[no-untyped-def]
    for stream, group in ((ITEMS, "classifier"), ("tripwire:alerts", "notifier")):
        if int(client.xpending(stream, group)["pending"]) != 0:
            return False
    return True

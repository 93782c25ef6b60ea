"""The running pipeline of the end-to-end benchmark: Redis, a webhook receiver, service processes, and timed runs.

Every service is a real process (``bench._e2e_worker``) reading a real Redis started here on a free port, and
delivering to a receiver on 127.0.0.1 that stamps each delivery's arrival: publish-to-delivery latency is the
arrival time minus the publish time of the alert's item, both on this process' clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from redis.asyncio import Redis

from shared.schemas import FeedRef, Item
from shared.streams import DATA_FIELD, StreamNames
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.05  # seconds between looks at the consumer group while waiting for a run to finish


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records when each item's alert arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.server = LocalServer(lambda _request: Reply(204), self._arrived)

    def _arrived(self, request: ReceivedRequest) -> None:
        now = time.perf_counter()
        alert = json.loads(request.body)["data"]
        with self._changed:
            self.arrivals.setdefault(f"{alert['item']['id']}/{alert['topic']}", now)
            self._changed.notify_all()

    def wait_for(self, keys: set[str], timeout: float) -> bool:
        """Block until every ``item/topic`` key has had a delivery (or ``timeout``)."""
        with self._changed:
            return self._changed.wait_for(lambda: keys <= self.arrivals.keys(), timeout)


@dataclass
class Service:
    """One service process; ``report`` holds its CPU seconds and peak RSS once stopped."""

    role: str
    process: subprocess.Popen[str]
    log: IO[str]
    report: dict[str, float] = field(default_factory=dict)

    def stop(self) -> dict[str, float]:
        """SIGTERM, wait for the graceful shutdown, read the report line."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=60)
        self.log.close()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        self.report = json.loads(lines[-1]) if lines else {}
        return self.report


def start_services(role: str, count: int, redis_url: str, hook_url: str) -> list[Service]:
    """Start ``count`` processes of ``role`` and wait until each has its model loaded and says ready."""
    services = []
    for _ in range(count):
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in Service.stop
        process = subprocess.Popen(  # our own module, fixed arguments
            [sys.executable, "-m", "bench._e2e_worker", role, redis_url, hook_url],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        services.append(Service(role, process, log))
    for service in services:
        assert service.process.stdout is not None
        line = service.process.stdout.readline().strip()
        if line != "ready":
            service.log.seek(0)
            raise RuntimeError(f"{role} did not start: {line!r}\n{service.log.read()[-2000:]}")
    return services


def cpu_seconds(services: Sequence[Service]) -> float:
    """CPU seconds (user + system) the processes have used so far, from /proc (Linux)."""
    total = 0.0
    for service in services:
        stat = Path(f"/proc/{service.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def make_items(texts: Sequence[tuple[str, str]], tag: str) -> list[Item]:
    """One item per (title, summary), with ids unique to this run."""
    now = datetime.now(UTC)
    feed = FeedRef(url="http://127.0.0.1/bench.xml", title="Bench")
    return [
        Item(id=f"{tag}-{n}", feed=feed, title=title, summary=summary, link=f"http://127.0.0.1/{n}", fetched_at=now)
        for n, (title, summary) in enumerate(texts)
    ]


@dataclass
class RunResult:
    """Figures of one timed run."""

    items: int
    alerts: int
    classified_s: float  # publish of the first item to the last item acked by the classifiers
    delivered_s: float  # publish of the first item to the last delivery received
    latencies: list[float]  # publish -> delivery, per alert


class Pipeline:
    """Publishes items to the running services and times them through to the receiver."""

    def __init__(self, redis: Redis, receiver: Receiver, maxlen: int, prefix: str = "tripwire:") -> None:
        self.redis, self.receiver, self.maxlen = redis, receiver, maxlen
        self.names = StreamNames(prefix)

    async def burst(self, items: list[Item]) -> RunResult:
        """All items at once (one pipelined XADD batch), then wait for classification and delivery."""
        pipe = self.redis.pipeline(transaction=False)
        for item in items:
            pipe.xadd(self.names.items, {DATA_FIELD: item.to_json()}, maxlen=self.maxlen, approximate=True)
        started = time.perf_counter()
        await pipe.execute()
        published = dict.fromkeys((item.id for item in items), started)
        return await self._finish(items, published, started)

    async def steady(self, items: list[Item], rate: float) -> RunResult:
        """Items one at a time at ``rate`` per second (publish times on a fixed schedule, not drifting)."""
        started = time.perf_counter()
        published: dict[str, float] = {}
        for n, item in enumerate(items):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            published[item.id] = time.perf_counter()
            await self.redis.xadd(self.names.items, {DATA_FIELD: item.to_json()}, maxlen=self.maxlen, approximate=True)
        return await self._finish(items, published, started)

    async def _finish(self, items: list[Item], published: dict[str, float], started: float) -> RunResult:
        last = await self._wait_classified()
        alerted = await self._routed_item_ids({item.id for item in items})
        if not await asyncio.to_thread(self.receiver.wait_for, alerted, 600):
            raise RuntimeError("deliveries missing after 600 s")
        arrivals = self.receiver.arrivals
        delivered = max((arrivals[i] for i in alerted), default=last)
        return RunResult(
            items=len(items), alerts=len(alerted), classified_s=last - started, delivered_s=delivered - started,
            latencies=sorted(arrivals[key] - published[key.rsplit("/", 1)[0]] for key in alerted),
        )  # fmt: skip

    async def _wait_classified(self) -> float:
        """perf_counter time when the classifier group had read every item and acked it."""
        last_id = (await self.redis.xinfo_stream(self.names.items))["last-generated-id"]
        while True:
            groups: list[dict[str, Any]] = await self.redis.xinfo_groups(self.names.items)
            group = next(g for g in groups if g["name"] in (b"classifier", "classifier"))
            if group["last-delivered-id"] == last_id and group["pending"] == 0:
                return time.perf_counter()
            await asyncio.sleep(POLL)

    async def _routed_item_ids(self, item_ids: set[str]) -> set[str]:
        """``item/topic`` of this run's alerts the webhook subscription takes (its topics, min_score 0.5)."""
        routed = set()
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(self.names.alerts)  # type: ignore[assignment]
        for _entry_id, fields in entries:
            alert = json.loads(fields[DATA_FIELD.encode()])
            if alert["item"]["id"] in item_ids and alert["score"] >= 0.5:
                routed.add(f"{alert['item']['id']}/{alert['topic']}")
        return routed

    async def stream_memory(self) -> dict[str, tuple[int, int]]:
        """Entries and bytes (MEMORY USAGE, every node sampled) of the items and alerts streams."""
        sizes = {}
        for stream in (self.names.items, self.names.alerts):
            entries = int(await self.redis.xlen(stream))
            sizes[stream] = (entries, int(await self.redis.memory_usage(stream, samples=0) or 0))
        return sizes

    async def redis_memory(self) -> tuple[int, int]:
        """used_memory and used_memory_peak, bytes."""
        info: dict[str, Any] = await self.redis.info("memory")
        return int(info["used_memory"]), int(info["used_memory_peak"])

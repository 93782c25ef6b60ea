"""Two notifier replicas whose wall clocks differ by minutes deliver each alert once.

The lease scripts read Redis TIME, not the replica's clock (services/notifier/leases.py), so skew between hosts cannot
make one replica think another's lease has run out. The replicas here run on real clocks offset by -5 and +5 minutes
(subclasses of SystemClock, so the scripts use Redis TIME exactly as in production), against one real Redis and one
receiver; deliveries are counted as a list, so a second send of any alert fails the test.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import datetime, timedelta

import httpx
from redis.asyncio import Redis

from services.notifier.service import Notifier
from shared.clock import SystemClock
from shared.config import TripwireConfig
from tests.notifier.support import PREFIX, make_alert, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply

ALERTS = 40


class SkewedClock(SystemClock):
    """The real clock of a host whose wall clock is ``offset`` seconds off."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return super().monotonic() + self.offset


async def test_replicas_with_clocks_minutes_apart_deliver_each_alert_once(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    def slow(_request: object) -> Reply:
        time.sleep(0.3)  # sends stay in flight while the other replica looks at the schedule
        return Reply(204)

    with LocalServer(slow) as receiver:
        # A short lease, so that a replica whose clock ran ahead would see the other's leases as expired at once if
        # the lease were judged by its own clock (300 s of skew against a 5 s lease).
        config = notifier_config(
            default_config, [sub("hook", f"{receiver.url}/hook")], lease=5, timeout=2, poll_interval=0.01
        )
        replicas = [
            Notifier(config, redis, http, f"n{index}", clock=SkewedClock(offset), rng=random.Random(index))
            for index, offset in enumerate((-300.0, 300.0))
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(replica.run(stop)) for replica in replicas]
        try:
            # Alerts arrive a few at a time, so both replicas read some and each sees the other's leased deliveries
            # in the schedule while their sends are still in flight.
            for start in range(0, ALERTS, 4):
                await publish_messages(redis, *(make_alert(n) for n in range(start, start + 4)))
                await asyncio.sleep(0.05)
            for _ in range(600):  # the end is observed, not waited for: at most 60 s on a loaded machine
                settled = await redis.zcard(PREFIX + "delivery_schedule") == 0
                pending = (await redis.xpending(PREFIX + "alerts", "notifier"))["pending"]
                if settled and pending == 0 and len(receiver.requests) >= ALERTS:
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        links = [json.loads(request.body)["data"]["item"]["link"] for request in receiver.requests]
    assert sorted(links) == sorted(f"https://news.example/a/{n}" for n in range(ALERTS)), "each alert exactly once"
    assert await redis.zcard(PREFIX + "delivery_schedule") == 0
    assert await redis.xlen(PREFIX + "dlq") == 0

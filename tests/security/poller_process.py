"""A real poller in its own process, for the hostile kit: ``python -m tests.security.poller_process REDIS_URL`` with
the config's sections as JSON on the first line of stdin. It polls, talks to hubs and serves WebSub callbacks
until stdin closes, then prints its peak resident memory (the kernel's VmHWM) as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import threading

from redis.asyncio import Redis

from services.poller.service import Poller
from shared.config import TripwireConfig
from shared.http import make_http_client
from shared.logging import setup_logging
from tests.helpers import config_with


async def main(redis_url: str) -> None:
    sections = json.loads(sys.stdin.readline())
    config = config_with(TripwireConfig(), **sections)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    redis = Redis.from_url(redis_url)
    try:
        async with make_http_client(config.network, timeout=config.poller.timeout, user_agent="kit") as http:
            await Poller(config, redis, http).run(stop)
    finally:
        await redis.aclose()
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}), flush=True)


def peak_rss_bytes() -> int:
    """This process's own peak RSS: VmHWM, the high-water mark of the memory map exec gave it.

    Not getrusage's ru_maxrss: Linux carries the parent's high-water mark across fork and exec into it, so a poller
    started by a test process that holds the models (1.4 GB late in a full run) "peaked" at 1.4 GB without using it.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    setup_logging("json", "INFO")
    asyncio.run(main(sys.argv[1]))

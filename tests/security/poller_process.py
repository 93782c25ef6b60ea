"""A real poller in its own process, for the hostile kit: ``python -m tests.security.poller_process REDIS_URL`` with
the config's sections as JSON on the first line of stdin. It polls, talks to hubs and serves WebSub callbacks
until stdin closes, then prints its peak resident memory (getrusage) as JSON."""

from __future__ import annotations

import asyncio
import json
import resource
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
    print(json.dumps({"ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)


if __name__ == "__main__":
    setup_logging("json", "INFO")
    asyncio.run(main(sys.argv[1]))

"""The whole hostile kit against a real poller process: its peak memory stays under the compose memory limit.

The poller (tests/security/poller_process.py) polls feeds that are gzip bombs, drips, endless or huge headers,
redirect loops, wrong content types and brotli; follows their items to article pages that do the same; asks a hub
that answers with a 200 MiB gzip bomb; and serves its WebSub callback while a callback client sends gzip bombs to
made-up and real ids, holds hundreds of idle and half-sent connections, floods junk and oversized heads. A real
signed push must still be accepted. Memory: psutil samples the process's RSS; getrusage gives the kernel's peak.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import yaml
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.redis_server import RedisServer
from shared.streams import StreamNames
from tests.security.hostile_peers import (
    HostileServer,
    MiB,
    gzip_bomb,
    held_bombs,
    idle_connections,
    junk_pushes,
    push_head,
    request,
    signed_push,
    status_of,
)

REPO = Path(__file__).resolve().parents[2]
FEED_PATHS = [
    "/feed.xml",
    "/feed2.xml",
    "/bomb",
    "/drip",
    "/endless-headers",
    "/huge-headers",
    "/loop",
    "/wrong-type",
    "/brotli",
]
WAIT = 120.0  # seconds; a guard against a hang, far above what each step takes


def compose_memory_limit(service: str) -> int:
    """The service's memory limit in docker-compose.yml, in bytes (the documented limit, not a code constant)."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    limit = str(compose["services"][service]["deploy"]["resources"]["limits"]["memory"]).strip().lower()
    number, unit = re.fullmatch(r"([\d.]+)\s*([kmg]?)i?b?", limit).groups()  # type: ignore[union-attr]
    return int(float(number) * {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB}[unit])


class RssSampler:
    """Samples a process's resident memory every few milliseconds in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process, self.peak, self.first = psutil.Process(pid), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            with contextlib.suppress(psutil.Error):
                rss = self.process.memory_info().rss
                self.first = self.first or rss
                self.peak = max(self.peak, rss)

    @contextlib.contextmanager
    def running(self) -> Iterator[RssSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


async def known_subscriptions(redis_url: str, config: TripwireConfig) -> list[tuple[str, str]]:
    """(callback id, secret) of each subscription the poller made at the hostile hub so far."""
    redis = Redis.from_url(redis_url)
    try:
        found = []
        async for key in redis.scan_iter(StreamNames.of(config.redis).key("websub", "sub", "*")):
            secret = await redis.hget(key, "secret")
            if secret:
                found.append((key.decode().rsplit(":", 1)[1], secret.decode()))
        return found
    finally:
        await redis.aclose()


@pytest.mark.slow
def test_the_poller_stays_under_its_compose_memory_limit_under_the_hostile_kit(redis_server: RedisServer):
    limit = compose_memory_limit("poller")
    gzip_bomb(200 * MiB), gzip_bomb(10 * MiB)  # built before the poller starts
    port = free_port()
    with HostileServer() as hostile:
        sections = {
            "feeds": [{"url": f"{hostile.url}{path}"} for path in FEED_PATHS],
            "poller": {"jitter": 0, "timeout": 3, "default_interval": 5, "adaptive": False, "max_backoff": 5,
                       "websub": {"callback_url": f"http://127.0.0.1:{port}/websub", "listen": f"127.0.0.1:{port}"}},
        }  # fmt: skip
        config = TripwireConfig.model_validate({"feeds": sections["feeds"]})
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.security.poller_process", redis_server.url],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        child.stdin.write(json.dumps(sections) + "\n")
        child.stdin.flush()
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.extend(child.stderr), daemon=True)  # type: ignore[arg-type]
        reader.start()
        try:
            with RssSampler(child.pid).running() as rss:
                wait_for(lambda: listening(port), "the callback server listens")
                found: list[tuple[str, str]] = []

                def both_subscribed() -> bool:
                    found[:] = asyncio.run(known_subscriptions(redis_server.url, config))
                    return len(found) == 2

                wait_for(both_subscribed, "the poller subscribes both feeds at the hostile hub")
                before_attack = rss.process.memory_info().rss  # polled and parsed once: the language model is loaded
                # The bombs go to one real subscription, the real pushes to the other (a hub that knows the first
                # id may spend its own rate limit; it must not spend anyone else's).
                (bombed, _), (real_id, real_secret) = found
                statuses = attack(port, "/websub", f"/websub/{bombed}", f"/websub/{real_id}", real_secret)
                wait_for(lambda: hostile.hits.count("/bomb") >= 3 and hostile.hits.count("/hub") >= 1,
                         "feeds, articles and the hub were fetched again")  # fmt: skip
        finally:
            child.stdin.close()  # the poller's signal to stop gracefully
            child.wait(timeout=WAIT)
            out = child.stdout.read()
            reader.join(timeout=5)
            child.stdout.close()
            child.stderr.close()
        kernel_peak = json.loads(out.strip().splitlines()[-1])["peak_rss_bytes"]
    logs = "".join(stderr)
    print(f"\npoller RSS: first sample {rss.first / MiB:.0f} MiB, before the callback attack "
          f"{before_attack / MiB:.0f} MiB, psutil peak {rss.peak / MiB:.0f} MiB, "
          f"kernel peak (VmHWM) {kernel_peak / MiB:.0f} MiB, compose limit {limit / MiB:.0f} MiB")  # fmt: skip
    # Refused before the body was read: the answer, or (a client still sending when the server closed) a reset.
    assert 410 in statuses["unknown bombs"] and statuses["unknown bombs"] <= {410, None}  # type: ignore[operator]
    assert statuses["known bombs"] <= {413, 408, 429, None}  # type: ignore[operator]
    assert statuses["real push under idle connections"] == 202 and statuses["real push after junk"] == 202
    assert statuses["junk"] == {410} and statuses["huge heads"] <= {400, None}
    # No traceback from the callback server (main logged one per client that hung up mid-body).
    assert "ClientDisconnect" not in logs and "Exception in ASGI application" not in logs, logs[-3000:]
    assert max(rss.peak, kernel_peak) < limit


def attack(port: int, prefix: str, known: str, real: str, secret: str) -> dict[str, object]:
    """Every callback-client misbehaviour at once; the statuses each one got."""
    story = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Real push</title>' \
            b"<guid>real-1</guid></item></channel></rss>"  # fmt: skip
    huge = push_head(known, 0, f"X-Huge: {'a' * MiB}\r\n")

    def bombs(path: str, count: int) -> set[int | None]:
        with held_bombs(port, path, count) as socks:
            return {status_of(sock) for sock in socks}

    with ThreadPoolExecutor(max_workers=4) as pool:
        unknown = pool.submit(bombs, f"{prefix}/{'u' * 22}", 40)
        known_bombs = pool.submit(bombs, known, 16)
        heads = pool.submit(lambda: {request(port, huge) for _ in range(20)})
        half = f"POST {known} HTTP/1.1\r\nHost: x\r\n".encode()
        with idle_connections(port, 300), idle_connections(port, 100, half):
            real_idle = signed_push(port, real, secret, story)
        junk = set(junk_pushes(port, prefix, 200))
        real_junk = signed_push(port, real, secret, story.replace(b"real-1", b"real-2"))
        return {
            "unknown bombs": unknown.result(), "known bombs": known_bombs.result(), "huge heads": heads.result(),
            "real push under idle connections": real_idle, "junk": junk, "real push after junk": real_junk,
        }  # fmt: skip

"""The Redis that ``tripwire run`` starts when REDIS_URL is unset: started, published, and restarted when it dies.

The server is a child of ``run`` (shared/redis_server.py) on 127.0.0.1, with its AOF under ``<data_dir>/redis``.
A supervisor waits on it; when it exits without being asked to (the OOM killer, a crash, ``kill -9``), it is reaped
at once (no zombie) and started again on the same port with the same data directory: the services, which keep
the same URL, ride through the outage with their reconnect back-off, and the AOF brings back streams, consumer
groups and pending entries, so nothing acked is lost and nothing is sent twice. The outage is logged once when the
server dies and once when it is back (how long, how many attempts), not once per failed command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import ExponentialWithJitterBackoff

from shared.errors import SetupError
from shared.logging import get_logger
from shared.redis_server import RedisServer, RedisServerError
from tripwire.local_redis import owner_gone, publish_address, redis_dir, running_url, server_pid, withdraw_address

log = get_logger(__name__)
# Between failed restarts (a corrupt AOF, the port taken meanwhile): soon at first, then every half minute at most.
RESTART_BACKOFF_BASE = 0.5
RESTART_BACKOFF_CAP = 30.0
ORPHAN_SHUTDOWN_TIMEOUT = 30.0


class EmbeddedRedisError(SetupError):
    """The embedded Redis cannot be started; the message says why and what to do."""


class EmbeddedRedis:
    """``async with EmbeddedRedis(data_dir) as url``: a supervised redis-server for the duration of the block."""

    def __init__(
        self,
        data_dir: Path,
        *,
        server: RedisServer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_dir = data_dir
        self.server = server or RedisServer(redis_dir(data_dir))
        self.restarts = 0
        self._clock = clock
        self._url = ""
        self._stopping = asyncio.Event()
        self._restarting = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> str:
        try:
            redis_dir(self.data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedRedisError(
                f"data_dir {self.data_dir}: cannot create it ({exc.strerror}); set data_dir in the config file to a "
                "directory this user can write (a relative one is taken from the config file's directory)"
            ) from None
        other = await asyncio.to_thread(running_url, self.data_dir)
        if other is not None and await asyncio.to_thread(owner_gone, self.data_dir):
            other = await asyncio.to_thread(self._stop_orphan, other)
        if other is not None:
            # Two servers appending to one AOF would corrupt it. The one there may also be the redis-server of a
            # run that was killed with SIGKILL (a child outlives its parent): the pid lets the user stop it.
            pid = await asyncio.to_thread(server_pid, other)
            raise EmbeddedRedisError(
                f"data_dir {self.data_dir} is in use: a Redis answers for it at {other} (pid {pid}), started by "
                "another 'tripwire run' (or left running by one that was killed); stop it first, or give this run "
                "another data_dir"
            )
        try:
            self._url = await asyncio.to_thread(self.server.start)
        except RedisServerError as exc:
            raise EmbeddedRedisError(str(exc)) from None
        path = publish_address(self.data_dir, self._url, os.getpid())
        log.info("redis_address_written", path=str(path), url=self._url, pid=self.server.pid)
        self._task = asyncio.create_task(self._supervise(), name="embedded-redis-supervisor")
        return self._url

    def _stop_orphan(self, url: str) -> str | None:
        """Shut down the server of a run that died (SIGKILL leaves its child running); None once it is gone.

        Left running, it would hold the AOF and make every later start refuse: a crash loop under systemd. SHUTDOWN
        writes the AOF first, and the server started next reads it back.
        """
        pid = server_pid(url)
        client = redis.Redis.from_url(url, socket_timeout=10)
        try:
            client.shutdown()
        except redis.RedisError:
            pass  # SHUTDOWN closes the connection by design
        finally:
            client.close()
        deadline = self._clock() + ORPHAN_SHUTDOWN_TIMEOUT
        while self._clock() < deadline:
            if running_url(self.data_dir) is None:
                log.warning("redis_orphan_stopped", url=url, pid=pid, data_dir=str(self.data_dir))
                return None
            time.sleep(0.05)
        return url

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        if self._restarting and self._task is not None:
            await self._task  # let a restart under way finish, so the server it starts is the one stopped below
        withdraw_address(self.data_dir, self._url)
        await asyncio.to_thread(self.server.stop)
        if self._task is not None:
            await self._task  # returns: the process it waited on has exited

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            pid = self.server.pid
            status = await asyncio.to_thread(self.server.wait)  # reaps the child when it exits
            if self._stopping.is_set() or status is None:
                return
            log.warning(
                "redis_server_exited", pid=pid, status=_describe(status), port=self.server.port, restarting=True
            )
            await self._restart()

    async def _restart(self) -> None:
        """Start the server again, same port and data, until it answers or ``run`` stops."""
        self._restarting = True
        down_since, attempts = self._clock(), 0
        backoff = ExponentialWithJitterBackoff(cap=RESTART_BACKOFF_CAP, base=RESTART_BACKOFF_BASE)
        try:
            while not self._stopping.is_set():
                attempts += 1
                try:
                    await asyncio.to_thread(self.server.start)
                except RedisServerError as exc:
                    if attempts == 1:  # once: the next lines would say the same; /healthz says 503 meanwhile
                        log.error("redis_server_restart_failed", error=str(exc), retrying=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=backoff.compute(attempts))
                    continue
                self.restarts += 1
                log.info(
                    "redis_server_restarted", pid=self.server.pid, port=self.server.port, attempts=attempts,
                    down_seconds=round(self._clock() - down_since, 1),
                )  # fmt: skip
                return
        finally:
            self._restarting = False


def _describe(status: int) -> str:
    """``killed by SIGKILL`` or ``exit status 1``."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"

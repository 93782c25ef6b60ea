"""Config reloads without a restart, as Alertmanager's: SIGHUP, or a console action that rewrote the config file,
asks every service to read the file again through the normal loader.

A service watches for a request (``ReloadWatch.requested``): a SIGHUP to its process since it last looked, or a new
generation in Redis (``request_reload``, what the console bumps after writing the file: the services may run in
other processes or on other hosts, where no signal reaches). It then loads the file (``ReloadWatch.load``); a
config that fails validation is refused with the loader's one-line error in one log line (``config_reload_refused``)
and the running config is kept. What each service takes from a reloaded config: the poller its feeds, the
classifier its topics, the notifier its subscriptions; every other setting still needs a restart.

SIGHUP has one handler per process that fans out to every watch (``tripwire run`` has three services in one loop,
and a signal handler, unlike a watch, cannot be shared by adding another).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.config import TripwireConfig
from shared.logging import get_logger
from shared.streams import StreamNames

log = get_logger(__name__)
ConfigLoader = Callable[[], TripwireConfig]
# How often a running service looks for a reload request (one GET): a console change applies within this.
RELOAD_CHECK_SECONDS = 2.0
_HUP_LISTENERS: list[Callable[[], None]] = []


def reload_key(names: StreamNames) -> str:
    """The generation counter the console bumps after it rewrote the config file."""
    return names.key("config:generation")


async def request_reload(redis: Redis, names: StreamNames) -> int:
    """Ask every running service to reload the config file; returns the new generation."""
    return int(await redis.incr(reload_key(names)))


def on_sighup(listener: Callable[[], None]) -> None:
    """Call ``listener`` on every SIGHUP to this process (installs the one handler at the first listener)."""
    if not _HUP_LISTENERS:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _hangup)
    _HUP_LISTENERS.append(listener)


def off_sighup(listener: Callable[[], None]) -> None:
    """Stop calling ``listener``; the handler goes with the last one."""
    if listener in _HUP_LISTENERS:
        _HUP_LISTENERS.remove(listener)
        if not _HUP_LISTENERS:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def _hangup() -> None:
    log.info("config_reload_requested", signal="SIGHUP")
    for listener in list(_HUP_LISTENERS):
        listener()


class ReloadWatch:
    """One service's view of reload requests: SIGHUP since it last looked, or a new generation in Redis."""

    def __init__(self, redis: Redis, names: StreamNames, load: ConfigLoader, service: str) -> None:
        self.redis, self.key, self._load, self.service = redis, reload_key(names), load, service
        self._hup = asyncio.Event()
        self._generation: int | None = None

    def __enter__(self) -> ReloadWatch:
        on_sighup(self._hup.set)
        return self

    def __exit__(self, *_: object) -> None:
        off_sighup(self._hup.set)

    def signal(self) -> None:
        """Ask for a reload (what SIGHUP does)."""
        self._hup.set()

    async def requested(self) -> bool:
        """True once per request: a SIGHUP, or a generation newer than the one seen (the first look only notes it)."""
        asked = self._hup.is_set()
        self._hup.clear()
        try:
            raw = await self.redis.get(self.key)
        except (RedisError, OSError):
            return asked  # Redis down: the signal still counts; the console's request is seen once it is back
        generation = int(raw or 0)
        if self._generation is not None and generation != self._generation:
            asked = True
        self._generation = generation
        return asked

    def load(self) -> TripwireConfig | None:
        """The config file as it is now, or None (logged in one line) when it fails validation: keep the old one."""
        try:
            return self._load()
        except Exception as exc:  # any failure of the loader, ConfigError above all, keeps the running config
            log.error("config_reload_refused", service=self.service, error=" ".join(str(exc).split()))
            return None

    async def wait(self, stop: asyncio.Event, seconds: float = RELOAD_CHECK_SECONDS) -> None:
        """Sleep until ``stop``, a SIGHUP or ``seconds`` pass, whichever comes first."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._hup.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


async def watch_config(watch: ReloadWatch, apply: Callable[[TripwireConfig], object], stop: asyncio.Event) -> None:
    """Until ``stop``: on each request, load the file and hand a valid config to ``apply`` (sync or async)."""
    while not stop.is_set():
        if await watch.requested() and (config := watch.load()) is not None:
            try:
                result = apply(config)
                if asyncio.iscoroutine(result):
                    await result
            except Exception as exc:  # a reload that fails half-way must not stop the service: it keeps running
                log.error("config_reload_failed", service=watch.service, error=" ".join(str(exc).split()))
        await watch.wait(stop)

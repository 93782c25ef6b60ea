"""Wiring shared by the commands: Redis (given or embedded), signals, the health server, consumer settings."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager

from redis.asyncio import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError, RedisClusterException

from shared.config import Settings
from shared.errors import UsageError as UsageError  # re-exported: commands import it from here
from shared.health import HealthServer, HealthState
from shared.logging import get_logger
from shared.redis_checks import warn_if_evicting
from shared.redis_client import ClientError, build_client
from shared.redis_server import RedisServerError
from shared.stream_consume import REDIS_DOWN, answers_ping
from shared.stream_gauges import export_stream_bounds
from shared.streams import StreamConsumer, StreamNames
from tripwire.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from tripwire.local_redis import LocalRedisNotFound, address_file, find_local_redis

log = get_logger(__name__)
# A blocked XREADGROUP waits up to block_ms (1 s): the socket timeout must stay well above it. Finite
# timeouts matter when Redis hangs rather than dies: a command must fail, not wait forever.
SOCKET_TIMEOUT = 10.0
REDIS_WATCH_INTERVAL = 2.0
# A cluster not yet reachable or not yet formed is waited for like a server that is down.
_NOT_YET_UP: tuple[type[Exception], ...] = (*REDIS_DOWN, RedisClusterException)


@asynccontextmanager
async def redis_connection(
    settings: Settings, *, allow_embedded: bool, command: str, stop: asyncio.Event | None = None
) -> AsyncIterator[Redis]:
    """A client for REDIS_URL (redis.mode says which topology); without it, for the Redis of ``tripwire run``.

    ``allow_embedded`` (``run``): start that Redis, supervised; otherwise use the one a running ``tripwire run`` of
    the same data_dir published. It waits (with backoff) until Redis answers; ``stop`` set meanwhile exits with 0.
    """
    async with AsyncExitStack() as stack:
        url = await _redis_address(settings, allow_embedded=allow_embedded, command=command, stack=stack)
        sentinel_password = settings.sentinel_password.get_secret_value() if settings.sentinel_password else None
        try:
            client = build_client(
                url, settings.config.redis, sentinel_password=sentinel_password,
                health_check_interval=30, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT,
            )  # fmt: skip
        except ClientError as exc:
            raise UsageError(f"'tripwire {command}': {exc}") from None
        stack.push_async_callback(client.aclose)
        await wait_for_redis(client, settings.config.streams.reconnect_max_backoff, stop)
        export_stream_bounds(list(_stream_names(settings)), settings.config.redis.maxlen)
        yield client


async def _redis_address(
    settings: Settings, *, allow_embedded: bool, command: str, stack: AsyncExitStack
) -> str | None:
    """REDIS_URL; else (single mode) the embedded Redis, started here or found; None when the Sentinels say."""
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    mode = settings.config.redis.mode
    if mode == "sentinel":
        return None  # the Sentinels say where the primary is
    if mode == "cluster":
        raise UsageError(f"'tripwire {command}' with redis.mode cluster needs REDIS_URL naming any node of the cluster")
    data_dir = settings.config.data_dir
    if allow_embedded:
        try:
            return await stack.enter_async_context(EmbeddedRedis(data_dir))
        except (EmbeddedRedisError, RedisServerError) as exc:  # no redis-server, or it would not start
            raise UsageError(f"'tripwire {command}': {exc}") from None
    try:
        url = await asyncio.to_thread(find_local_redis, data_dir)
    except LocalRedisNotFound as exc:
        raise UsageError(
            f"'tripwire {command}' needs a Redis: REDIS_URL is unset and {exc}. Set REDIS_URL to the Redis your "
            "services use, or start 'tripwire run' with this config first"
        ) from None
    # One line, on stderr (stdout may be JSON for a script): which Redis this command reads and changes.
    print(f"tripwire: using the Redis of 'tripwire run' at {url} (from {address_file(data_dir)})", file=sys.stderr)
    return url


async def wait_for_redis(client: Redis, max_backoff: float, stop: asyncio.Event | None = None) -> None:
    """Return once Redis answers PING; a service started before its Redis waits instead of crashing."""
    backoff = ExponentialWithJitterBackoff(cap=max_backoff, base=0.1)
    failures = 0
    while True:
        if stop is not None and stop.is_set():
            # Asked to stop before there was anything to do: nothing is in flight, so exit cleanly.
            log.info("shutdown_before_start")
            raise SystemExit(0)
        try:
            await client.ping()
        except _NOT_YET_UP as exc:
            refusal = misconfiguration(exc)
            if refusal:
                # Waiting cannot fix wrong credentials or an untrusted certificate: say so and stop.
                raise UsageError(refusal) from None
            failures += 1
            if failures == 1:
                log.warning("redis_unreachable", service="startup", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(backoff.compute(failures))
            continue
        if failures:
            log.info("redis_reachable", service="startup")
        return


def misconfiguration(exc: BaseException) -> str | None:
    """What to fix, when a failed connection is a setup error rather than Redis being down; else None."""
    if isinstance(exc, AuthenticationError | AuthenticationWrongNumberOfArgsError):
        return "Redis refused the credentials; check the password (and user) in REDIS_URL"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return (
                "the Redis server's TLS certificate did not verify; pass the CA that signed it as "
                "?ssl_ca_certs=/path/ca.pem in REDIS_URL"
            )
        seen = seen.__cause__ or seen.__context__
    return None


async def watch_redis(client: Redis, states: Iterable[HealthState], stop: asyncio.Event) -> None:
    """PING Redis every few seconds and record the answer, so /healthz follows Redis even when a loop is idle."""
    states = list(states)
    await warn_if_evicting(client, states)  # at start: /healthz keeps saying so while the setting stands
    while not stop.is_set():
        asked_at = time.monotonic()
        ok = await answers_ping(client)
        for state in states:
            state.set_redis_ok(ok, None if ok else "PING failed", observed_at=asked_at)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=REDIS_WATCH_INTERVAL)


@asynccontextmanager
async def watching_redis(client: Redis, states: Iterable[HealthState], stop: asyncio.Event) -> AsyncIterator[None]:
    """Run ``watch_redis`` for the duration of the block."""
    task = asyncio.create_task(watch_redis(client, states, stop))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def configure_consumer(consumer: StreamConsumer, settings: Settings, health: HealthState) -> StreamConsumer:
    """Give a service's consumer the configured recovery settings, its dead-letter stream and its health state."""
    names = StreamNames.of(settings.config.redis)
    return consumer.configure(
        settings=settings.config.streams,
        dead_letter_stream=names.dlq,
        dead_letter_maxlen=settings.config.redis.maxlen,
        health=health,
    )


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, stop, sig)
    return stop


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("shutdown_requested", signal=sig.name)
    stop.set()


def start_health_server(settings: Settings, port: int, states: dict[str, HealthState]) -> HealthServer | None:
    """Serve /healthz and /metrics on the configured host and ``port`` (0 disables it)."""
    if port == 0:
        return None
    return HealthServer(settings.config.health.host, port, states).start()


def _stream_names(settings: Settings) -> Iterable[str]:
    names = StreamNames.of(settings.config.redis)
    return (names.items, names.alerts, names.dlq)

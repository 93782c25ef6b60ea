"""The one place that builds Tripwire's Redis client: one server, a Redis Cluster, or a primary found through Sentinel.

Every service is written against the plain ``redis.asyncio.Redis`` command API. The cluster client offers the same
commands (routing each key to its slot's node) and the Sentinel client is a plain client whose connections ask the
Sentinels where the primary is, so the services need not know which topology they run on. What differs:

- Cluster: every key a Lua script or MULTI/EXEC touches together must hash to one slot; ``StreamNames`` gives such
  keys a shared hash tag in cluster mode (see shared/streams.py). redis-py refuses EVALSHA inside a cluster pipeline
  (it cannot know the script is loaded on the node that gets it); ``ScriptingCluster`` loads every registered script
  on every primary before a pipeline runs (again after a failover promotes a new primary), and then lets it through.
- Failover: the errors a client sees while a primary is replaced (below) count as "Redis is down" for the consumers'
  reconnect logic, which waits with backoff and carries on; nothing acked is lost and nothing unacked is skipped.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelManagedSSLConnection
from redis.commands.core import AsyncScript
from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    NoScriptError,
    ReadOnlyError,
    SlotNotCoveredError,
    TryAgainError,
)

from shared.config import RedisSettings
from shared.errors import ConfigError

# Seen while a cluster or Sentinel replaces a primary: slots briefly uncovered, a demoted primary answering
# READONLY, a script cache missing on a just-promoted node. All pass once the new primary serves.
FAILOVER_ERRORS: tuple[type[Exception], ...] = (
    ClusterDownError, MasterDownError, TryAgainError, SlotNotCoveredError, ReadOnlyError, NoScriptError,
)  # fmt: skip


class ClientError(ConfigError):
    """The Redis settings cannot make a client; the message says what to set."""


def build_client(
    url: str | None, settings: RedisSettings, *, sentinel_password: str | None = None, **connection: Any
) -> Redis:
    """The client for ``settings.mode``; ``connection`` holds socket options (timeouts, health checks)."""
    if settings.mode == "cluster":
        if url is None:
            raise ClientError("redis.mode is cluster: set REDIS_URL to any node, as redis://HOST:PORT/0")
        # Same command API as Redis (see the module docstring); typed as Redis so services stay topology-blind.
        return cast(Redis, ScriptingCluster.from_url(url, **connection))
    if settings.mode == "sentinel":
        return _sentinel_client(url, settings, sentinel_password, connection)
    if url is None:
        raise ClientError("set REDIS_URL to your Redis server, as redis://HOST:PORT/0")
    return Redis.from_url(url, **connection)


def _sentinel_client(
    url: str | None, settings: RedisSettings, sentinel_password: str | None, connection: dict[str, Any]
) -> Redis:
    # REDIS_URL, if set, gives the primary's credentials, database and TLS options; Sentinel gives its address.
    options: dict[str, Any] = dict(parse_url(url)) if url else {}
    options.pop("host", None)
    options.pop("port", None)
    tls = options.pop("connection_class", None) is SSLConnection
    ssl_options = {key: value for key, value in options.items() if key.startswith("ssl_")}
    sentinel_kwargs: dict[str, Any] = {k: v for k, v in connection.items() if k.startswith("socket_")}
    if tls:
        sentinel_kwargs.update(ssl=True, **ssl_options)
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    addresses = [(host, int(port)) for host, _, port in (entry.rpartition(":") for entry in settings.sentinels)]
    sentinel = Sentinel(addresses, sentinel_kwargs=sentinel_kwargs, **connection)  # type: ignore[no-untyped-call]
    if tls:
        options["connection_class"] = SentinelManagedSSLConnection
    return cast(Redis, sentinel.master_for(settings.service_name, **options))


async def drop_idle_connections(client: Redis) -> None:
    """Close pooled connections so the next command dials afresh (after Redis restarted or failed over)."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        await pool.disconnect(inuse_connections=False)


class ScriptingCluster(RedisCluster):
    """A RedisCluster whose pipelines may run the Lua scripts registered on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scripts: dict[str, str | bytes] = {}
        self._loaded_on: frozenset[str] = frozenset()

    def register_script(self, script: str | bytes) -> AsyncScript:  # type: ignore[override]
        """Register a script, remembered so it can be loaded on every primary."""
        registered = super().register_script(script)
        self._scripts[registered.sha] = script
        return registered

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        """A pipeline (or, with ``transaction``, a same-slot MULTI/EXEC) that may hold EVALSHA."""
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # raises, as redis-py does
        return ScriptingPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py's own ClusterPipeline

    async def ensure_scripts(self) -> None:
        """Load every registered script on each primary not known to have them (new ones after a failover)."""
        await self.initialize()
        primaries = frozenset(node.name for node in self.get_primaries())
        if not self._scripts or primaries <= self._loaded_on:
            return
        for script in list(self._scripts.values()):
            await self.script_load(script)  # redis-py sends SCRIPT LOAD to every primary
        self._loaded_on = primaries

    def forget_loaded_scripts(self) -> None:
        """A node answered NOSCRIPT (restarted without its cache): load on every primary again next time."""
        self._loaded_on = frozenset()


class ScriptingPipeline(ClusterPipeline):
    """A cluster pipeline that lets EVALSHA through once the scripts are on every primary."""

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Queue EVALSHA; its keys route it to their slot like any other command.

        A coroutine, because redis-py's Script awaits it: awaiting the pipeline itself would clear its queue.
        """
        queued = self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)
        if inspect.isawaitable(queued) and queued is not self:
            return await queued  # a watched transaction before MULTI runs commands at once
        return queued

    def mget(self, keys: Any, *args: Any) -> ClusterPipeline:  # type: ignore[override]
        """Queue MGET (its keys share a hash tag: redis-py blocks it here for keys that might not)."""
        names = [keys, *args] if isinstance(keys, str | bytes) else [*keys, *args]
        return self.execute_command("MGET", *names)

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        """Make sure the scripts are loaded, then run the pipeline."""
        client = cast(ScriptingCluster, self.cluster_client)
        await client.ensure_scripts()
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except NoScriptError:
            client.forget_loaded_scripts()
            raise


def same_slot(client: Redis, *keys: str) -> bool:
    """True when ``keys`` may be used together in one script or transaction on this client."""
    if not isinstance(client, RedisCluster):
        return True
    return len({client.keyslot(key) for key in keys}) == 1

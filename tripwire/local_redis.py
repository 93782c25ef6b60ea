"""Where the embedded Redis of a running ``tripwire run`` listens: written by ``run``, read by the other commands.

``tripwire run`` without REDIS_URL starts its own redis-server on a free port of 127.0.0.1, keeps its data under
``<data_dir>/redis`` and writes its URL to ``<data_dir>/redis.url``. The commands that need Redis (``feeds``,
``stories``, ``backtest``, ``dlq``, ``console``, ...) read that file when REDIS_URL is unset, and use the address only
once the server there has answered and said it keeps its data in that very directory: a file left behind by a run
that was killed may name a port some other program listens on now. Nothing here guesses a port.
"""

from __future__ import annotations

import os
from pathlib import Path

import redis

from shared.errors import UsageError

REDIS_SUBDIR = "redis"
ADDRESS_FILE = "redis.url"
OWNER_FILE = "run.pid"  # the process id of the `tripwire run` that started the server
# A local server answers in microseconds; one that takes longer than this is not one to trust with the command.
PROBE_TIMEOUT = 2.0


class LocalRedisNotFound(UsageError):
    """No running ``tripwire run`` for this data_dir; the message says what was looked at."""


def redis_dir(data_dir: Path) -> Path:
    """The embedded server's own data directory (AOF, log)."""
    return data_dir / REDIS_SUBDIR


def address_file(data_dir: Path) -> Path:
    """The file ``tripwire run`` writes its Redis URL to."""
    return data_dir / ADDRESS_FILE


def publish_address(data_dir: Path, url: str, owner: int) -> Path:
    """Write ``url`` to the address file and ``owner`` (run's pid) beside it, each whole or not at all."""
    _write_whole(data_dir / OWNER_FILE, f"{owner}\n")
    return _write_whole(address_file(data_dir), url + "\n")


def withdraw_address(data_dir: Path, url: str) -> None:
    """Remove the address file at a clean stop, unless it names someone else's server by now."""
    path = address_file(data_dir)
    try:
        if path.read_text(encoding="utf-8").strip() == url:
            path.unlink()
            (data_dir / OWNER_FILE).unlink(missing_ok=True)
    except FileNotFoundError:
        pass


def owner_gone(data_dir: Path) -> bool:
    """True when the ``tripwire run`` that published the address has died (its server, if it answers, is orphaned).

    False when it lives, or when that cannot be told (no pid file, a process of another user): the safe answer.
    """
    try:
        pid = int((data_dir / OWNER_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _write_whole(path: Path, text: str) -> Path:
    # A reader never sees half a file: write beside it, then rename over it.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def serves_data_dir(url: str, data_dir: Path, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the Redis at ``url`` answers and keeps its data in ``data_dir`` (so it is that run's server)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)
    try:
        answer = client.config_get("dir")
    except redis.RedisError:
        return False
    finally:
        client.close()
    served = answer.get("dir")
    return bool(served) and Path(str(served)).resolve() == redis_dir(data_dir).resolve()


def server_pid(url: str, timeout: float = PROBE_TIMEOUT) -> int | None:
    """The process id the Redis at ``url`` reports (None if it does not answer)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()


def running_url(data_dir: Path) -> str | None:
    """The URL in the address file if the server there answers for ``data_dir``; else None."""
    try:
        url = address_file(data_dir).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return url if url and serves_data_dir(url, data_dir) else None


def find_local_redis(data_dir: Path) -> str:
    """The URL of the Redis a running ``tripwire run`` started for ``data_dir``; raises LocalRedisNotFound."""
    path = address_file(data_dir)
    if not path.exists():
        raise LocalRedisNotFound(f"no 'tripwire run' of this config is running (it would have written {path})")
    url = running_url(data_dir)
    if url is None:
        raise LocalRedisNotFound(
            f"{path} names a Redis that no longer answers for {redis_dir(data_dir)}: the 'tripwire run' that "
            "wrote it has stopped"
        )
    return url

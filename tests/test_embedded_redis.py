"""The Redis of ``tripwire run``: supervised (reaped, restarted on the same port and AOF) and found by the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from redis.asyncio import Redis

from shared.redis_server import RedisServer
from tripwire.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from tripwire.local_redis import LocalRedisNotFound, address_file, find_local_redis, publish_address, redis_dir


def events(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(1 for record in caplog.records if record.getMessage() == name)


async def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_a_killed_server_is_reaped_and_restarted_on_its_port_with_its_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    embedded = EmbeddedRedis(tmp_path / "data")
    async with embedded as url:
        client = Redis.from_url(url)
        await client.xadd("tripwire:items", {"data": "before"})
        first = embedded.server.pid
        assert first is not None and find_local_redis(tmp_path / "data") == url
        os.kill(first, signal.SIGKILL)  # as the OOM killer would

        async def restarted() -> bool:
            return embedded.restarts == 1

        await wait_for(restarted)
        assert embedded.server.pid != first and not is_zombie(first)
        assert embedded.server.url == url  # same port: every client keeps its address
        await client.aclose()  # its pooled connection died with the server
        client = Redis.from_url(url)
        assert [fields for _id, fields in await client.xrange("tripwire:items")] == [{b"data": b"before"}]  # AOF
        assert find_local_redis(tmp_path / "data") == url
        await client.aclose()
        last = embedded.server.pid
    assert last is not None and not psutil.pid_exists(last)  # stopped and reaped
    assert not address_file(tmp_path / "data").exists()  # withdrawn at a clean stop
    assert (events(caplog, "redis_server_exited"), events(caplog, "redis_server_restarted")) == (1, 1)


async def test_a_failing_restart_is_logged_once_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    embedded = EmbeddedRedis(tmp_path / "data")
    async with embedded as url:
        manifest = redis_dir(tmp_path / "data") / "appendonlydir" / "appendonly.aof.manifest"
        good = manifest.read_bytes()
        manifest.write_bytes(b"not a manifest\n")  # the next start fails until it is put back
        os.kill(embedded.server.pid or 0, signal.SIGKILL)

        async def failed_a_few_times() -> bool:
            failed = [r for r in caplog.records if r.getMessage() == "redis_server_restart_failed"]
            return len(failed) == 1

        await wait_for(failed_a_few_times)
        error = next(r for r in caplog.records if r.getMessage() == "redis_server_restart_failed").__dict__["fields"]
        assert "Invalid AOF manifest" in error["error"]  # redis-server's own words say why
        await asyncio.sleep(2)  # more failed attempts meanwhile: still one line
        manifest.write_bytes(good)

        async def restarted() -> bool:
            return embedded.restarts == 1

        await wait_for(restarted, timeout=60)
        assert embedded.server.url == url
    assert events(caplog, "redis_server_restart_failed") == 1
    restarted_lines = [r for r in caplog.records if r.getMessage() == "redis_server_restarted"]
    assert len(restarted_lines) == 1 and restarted_lines[0].__dict__["fields"]["attempts"] > 1


async def test_a_second_run_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "data")
    async with first as url:
        refusal = f"data_dir .* is in use: a Redis answers for it at {url} \\(pid {first.server.pid}\\)"
        with pytest.raises(EmbeddedRedisError, match=refusal):
            async with EmbeddedRedis(tmp_path / "data"):
                pass


def test_the_cli_uses_only_a_server_that_answers_for_its_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with pytest.raises(LocalRedisNotFound, match="no 'tripwire run' of this config is running"):
        find_local_redis(data_dir)
    # A file left by a run that was killed now names a port where another Redis (other data) listens.
    with RedisServer(tmp_path / "someone-else") as other:
        data_dir.mkdir()
        address_file(data_dir).write_text(other.url + "\n")
        with pytest.raises(LocalRedisNotFound, match="no longer answers"):
            find_local_redis(data_dir)
    with RedisServer(redis_dir(data_dir)) as ours:
        address_file(data_dir).write_text(ours.url + "\n")
        assert find_local_redis(data_dir) == ours.url


async def test_a_data_dir_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(EmbeddedRedisError, match=r"data_dir .*a-file/data: cannot create it .*set data_dir"):
        async with EmbeddedRedis(tmp_path / "a-file" / "data"):
            pass


async def test_the_orphaned_redis_of_a_killed_run_is_shut_down_and_its_data_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`run` killed with SIGKILL leaves its redis-server running: the next `run` stops it instead of refusing."""
    caplog.set_level(logging.INFO)
    data_dir = tmp_path / "data"
    dead = subprocess.Popen(["true"])  # a pid that existed and is gone: the killed run
    dead.wait()
    orphan = RedisServer(redis_dir(data_dir))
    orphan_url = orphan.start()
    try:
        orphan.client().xadd("tripwire:items", {"data": "kept"})
        publish_address(data_dir, orphan_url, dead.pid)
        async with EmbeddedRedis(data_dir) as url:
            client = Redis.from_url(url)
            assert [fields for _id, fields in await client.xrange("tripwire:items")] == [{b"data": b"kept"}]
            await client.aclose()
        assert orphan.wait() == 0  # it shut down cleanly (AOF written), asked by the new run
    finally:
        orphan.stop()
    assert events(caplog, "redis_orphan_stopped") == 1


async def test_a_live_owner_is_never_taken_for_dead(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with RedisServer(redis_dir(data_dir)) as other:
        publish_address(data_dir, other.url, os.getpid())  # its run is alive (here: this process)
        with pytest.raises(EmbeddedRedisError, match="is in use"):
            async with EmbeddedRedis(data_dir):
                pass
        assert other.client().ping()


def test_the_server_is_out_of_reach_of_signals_to_its_owners_process_group(tmp_path: Path) -> None:
    # Ctrl-C (SIGINT) and systemd's stop (SIGTERM) go to the whole process group: a redis-server in run's group
    # shut down while the services drained, and run's supervisor restarted it mid-shutdown.
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        assert server.pid is not None
        assert os.getpgid(server.pid) != os.getpgrp()
        assert os.getsid(server.pid) != os.getsid(0)

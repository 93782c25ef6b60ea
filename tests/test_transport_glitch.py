"""A write on a connection Redis just reset can raise AttributeError or TypeError from inside redis-py or asyncio
instead of ConnectionError (redis-py issue #4287): the consume loop takes it for Redis going away, never for a bug
of ours, so the service rides it out instead of exiting (seen as a notifier that died during a cluster failover)."""

from __future__ import annotations

import asyncio

from shared.stream_consume import consume, ensure_group, transport_glitch
from shared.streams import StreamConsumer, StreamEntry


def raised_in(filename: str, error: type[Exception]) -> BaseException:
    code = compile(f"raise {error.__name__}(\"'NoneType' object has no attribute 'writelines'\")", filename, "exec")
    try:
        exec(code, {})  # noqa: S102 - a fixed statement, compiled under another file name
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def test_only_errors_raised_inside_redis_or_asyncio_connection_code_are_glitches() -> None:
    assert transport_glitch(raised_in("/venv/lib/python3.11/site-packages/redis/asyncio/connection.py", AttributeError))
    assert transport_glitch(raised_in("/usr/lib/python3.11/asyncio/selector_events.py", TypeError))
    assert not transport_glitch(raised_in("/srv/tripwire/services/notifier/service.py", AttributeError))
    assert not transport_glitch(raised_in("/venv/lib/python3.11/site-packages/redis/asyncio/connection.py", KeyError))


async def test_the_consume_loop_rides_out_a_glitch(redis_server) -> None:  # type: ignore[no-untyped-def]
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server.url)
    await client.delete("glitch:items")
    await client.xadd("glitch:items", {"data": "1"})
    consumer = StreamConsumer(client, "glitch:items", "g", "c1", block_ms=50)
    await ensure_group(client, "glitch:items", "g")
    real_read, calls = consumer.read, []

    async def read(*, block: bool = True) -> list[StreamEntry]:
        calls.append(block)
        if len(calls) == 1:
            raise raised_in("/venv/lib/python3.11/site-packages/redis/asyncio/connection.py", AttributeError)
        return await real_read(block=block)

    consumer.read = read  # type: ignore[method-assign]
    handled: list[str] = []

    async def handle(entries: list[StreamEntry]) -> list[str]:
        handled.extend(entry.id for entry in entries)
        return [entry.id for entry in entries]

    acked = await asyncio.wait_for(consume(consumer, handle, asyncio.Event(), drain=True), 30)
    assert acked == 1 and len(handled) == 1 and len(calls) >= 2
    await client.aclose()

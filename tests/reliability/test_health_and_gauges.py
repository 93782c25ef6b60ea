"""/healthz follows Redis and the loop; state changes are logged once; stream gauges on Redis 7 and 6.2."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from shared.config import ConfigError, parse_config
from shared.health import HealthServer, HealthState
from shared.stream_consume import ensure_group
from shared.stream_gauges import export_stream_gauges
from shared.streams import StreamConsumer, publish


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def events(caplog: pytest.LogCaptureFixture, name: str) -> int:
    """How many records of event ``name`` were logged."""
    return sum(1 for record in caplog.records if record.getMessage() == name)


def test_redis_state_changes_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    state = HealthState(name="classifier", clock=clock)
    state.beat(redis_ok=True)
    for _ in range(5):
        clock.now += 1
        state.set_redis_ok(False, "ConnectionError: refused")
    for _ in range(5):
        clock.now += 1
        state.beat(redis_ok=True)
        state.beat()  # a loop beat that did not talk to Redis says nothing about it

    assert events(caplog, "redis_unreachable") == 1
    assert events(caplog, "redis_reachable") == 1


def test_an_older_failure_does_not_overrule_a_newer_success() -> None:
    clock = FakeClock()
    state = HealthState(clock=clock)
    started = clock.now
    clock.now += 5
    state.set_redis_ok(True)  # a command that began later succeeded
    state.set_redis_ok(False, "PING timed out", observed_at=started)  # a PING begun during the outage
    assert state.redis_ok


def test_healthz_is_503_until_redis_answers_and_while_the_loop_is_stuck() -> None:
    clock = FakeClock()
    state = HealthState(stale_after=60, clock=clock)
    server = HealthServer("127.0.0.1", 0, {"notifier": state}).start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        state.beat()
        assert httpx.get(f"{url}/healthz").status_code == 503  # Redis not reached yet
        state.set_redis_ok(True)
        answer = httpx.get(f"{url}/healthz")
        assert answer.status_code == 200
        assert answer.json() == {"ok": True, "services": {"notifier": {"redis": True, "loop_age_seconds": 0.0}}}
        state.set_redis_ok(False, "down")
        assert httpx.get(f"{url}/healthz").status_code == 503
        state.beat(redis_ok=True)
        clock.now += 61  # the loop stopped beating
        assert httpx.get(f"{url}/healthz").status_code == 503
        assert "tripwire_" in httpx.get(f"{url}/metrics").text
    finally:
        server.stop()


async def test_stream_gauges_report_length_pending_and_lag(any_redis: Redis) -> None:
    await ensure_group(any_redis, "g:items", "classifier")
    for n in range(5):
        await publish(any_redis, "g:items", str(n), maxlen=1000)
    await any_redis.xreadgroup("classifier", "c1", {"g:items": ">"}, count=2)

    await export_stream_gauges(any_redis, "g:items", "classifier", "g:dlq")

    labels = {"stream": "g:items", "group": "classifier"}
    assert REGISTRY.get_sample_value("tripwire_stream_length", {"stream": "g:items"}) == 5
    assert REGISTRY.get_sample_value("tripwire_stream_length", {"stream": "g:dlq"}) == 0
    assert REGISTRY.get_sample_value("tripwire_pending_entries", labels) == 2
    assert REGISTRY.get_sample_value("tripwire_consumer_lag", labels) == 3  # XINFO on 7, counted on 6.2


def test_stream_settings_are_validated_with_a_clear_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config("streams:\n  max_deliveries: 0\n", "tripwire.yaml", {})
    assert "tripwire.yaml: streams.max_deliveries: 0 is not valid" in str(error.value)
    config = parse_config("streams:\n  reclaim_idle: 2m\n  shutdown_grace: 30s\n", "tripwire.yaml", {})
    assert (config.streams.reclaim_idle, config.streams.shutdown_grace) == (120.0, 30.0)


async def test_processing_latency_is_observed_per_group_on_ack(any_redis: Redis) -> None:
    await ensure_group(any_redis, "l:items", "latency-test")
    entry_id = await publish(any_redis, "l:items", "x", maxlen=1000)
    published_ms = int(entry_id.split("-")[0])
    reader = StreamConsumer(any_redis, "l:items", "latency-test", "c1", wall_clock=lambda: (published_ms + 1500) / 1000)
    (entry,) = await reader.read(block=False)
    before = REGISTRY.get_sample_value("tripwire_processing_seconds_sum", {"stage": "latency-test"}) or 0.0
    await reader.ack([entry.id])
    assert REGISTRY.get_sample_value("tripwire_processing_seconds_sum", {"stage": "latency-test"}) == before + 1.5

"""A Redis outage is logged once when it starts and once when it ends, for all the services of one process."""

from __future__ import annotations

import logging

import pytest

from shared.health import HealthState, RedisOutageLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, object]]]:
    return [(r.getMessage(), r.__dict__["fields"]) for r in caplog.records if r.getMessage().startswith("redis_")]


def test_three_services_sharing_one_redis_log_one_outage_once_each_way(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    outage = RedisOutageLog(clock)
    states = [HealthState(name=name, clock=clock, outage_log=outage) for name in ("poller", "classifier", "notifier")]
    for state in states:
        state.set_redis_ok(True)
    for _second in range(30):  # each service fails a command every second for 30 s
        clock.now += 1
        for state in states:
            state.set_redis_ok(False, "ConnectionError: refused")
    clock.now += 1
    for state in states:
        state.set_redis_ok(True)
    assert lines(caplog) == [
        ("redis_unreachable", {"service": "poller", "error": "ConnectionError: refused"}),
        ("redis_reachable", {"service": "poller", "down_seconds": 30.0, "failed_checks": 90}),
    ]
    assert all(state.redis_ok for state in states)


def test_a_late_failure_of_a_command_sent_during_the_outage_does_not_reopen_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    outage = RedisOutageLog(clock)
    poller, notifier = (HealthState(name=name, clock=clock, outage_log=outage) for name in ("poller", "notifier"))
    poller.set_redis_ok(False, "down", observed_at=101.0)
    poller.set_redis_ok(True, observed_at=105.0)
    notifier.set_redis_ok(False, "timed out", observed_at=103.0)  # sent at 103, failed after Redis came back
    assert [name for name, _fields in lines(caplog)] == ["redis_unreachable", "redis_reachable"]
    assert not notifier.redis_ok  # its own /healthz still follows its own commands


def test_services_in_separate_processes_each_log_their_own(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    first, second = HealthState(name="classifier", clock=clock), HealthState(name="notifier", clock=clock)
    first.set_redis_ok(False, "down")
    second.set_redis_ok(False, "down")
    assert [fields["service"] for _name, fields in lines(caplog)] == ["classifier", "notifier"]

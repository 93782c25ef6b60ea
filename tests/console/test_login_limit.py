"""Failed logins are limited per client address (5 a minute, then 429 with Retry-After), on a pinned clock."""

from __future__ import annotations

import logging

import httpx
import pytest
from redis.asyncio import Redis

from shared.config import TripwireConfig
from tests.console.support import PASSWORD, client_for, console_config, csrf_of
from tests.notifier.support import FakeClock

GUESSES = [f"guess-number-{n}" for n in range(10)]


async def _try(client: httpx.AsyncClient, password: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post("/login", data={"password": password, "csrf": csrf_of(form.text), "next": "/feeds"})


async def test_fifth_wrong_password_locks_the_address_out_for_a_minute(
    default_config: TripwireConfig, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    async with client_for(console_config(default_config), redis, clock=clock, address="203.0.113.7") as client:
        for guess in GUESSES[:4]:
            assert (await _try(client, guess)).status_code == 401
            clock.advance(1)
        locked = await _try(client, GUESSES[4])
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "56"  # the first failure, 4 s ago, ages out in 56 s
        assert "Too many failed logins from your address: try again in 56 seconds." in locked.text
        # The right password is refused during the lockout too: otherwise the lockout would not slow a guesser.
        assert (await _try(client, PASSWORD)).status_code == 429
        clock.advance(55)
        assert (await _try(client, PASSWORD)).headers["retry-after"] == "1"
        clock.advance(1)
        assert (await _try(client, PASSWORD)).status_code == 303
        assert (await client.get("/feeds")).status_code == 200
    lockouts = [record for record in caplog.records if record.getMessage() == "console_login_locked"]
    assert len(lockouts) == 1
    assert lockouts[0].__dict__["fields"] == {"client": "203.0.113.7", "failures": 5, "retry_after": 56}
    logged = caplog.text + repr([record.__dict__ for record in caplog.records])
    assert PASSWORD not in logged and not any(guess in logged for guess in GUESSES)


async def test_successful_login_is_unaffected_and_clears_the_count(
    default_config: TripwireConfig, redis: Redis
) -> None:
    clock = FakeClock()
    async with client_for(console_config(default_config), redis, clock=clock) as client:
        for guess in GUESSES[:4]:
            assert (await _try(client, guess)).status_code == 401
        assert (await _try(client, PASSWORD)).status_code == 303
        # The login forgot the four failures: four more are still plain wrong passwords.
        for guess in GUESSES[4:8]:
            assert (await _try(client, guess)).status_code == 401


async def test_failures_age_out_of_the_window(default_config: TripwireConfig, redis: Redis) -> None:
    clock = FakeClock()
    async with client_for(console_config(default_config), redis, clock=clock) as client:
        for guess in GUESSES:
            assert (await _try(client, guess)).status_code == 401
            clock.advance(15)  # four a minute never reaches five


async def test_one_address_locked_out_leaves_others_alone(default_config: TripwireConfig, redis: Redis) -> None:
    clock, config = FakeClock(), console_config(default_config)
    async with client_for(config, redis, clock=clock, address="198.51.100.1") as guesser:
        for guess in GUESSES[:5]:
            await _try(guesser, guess)
        assert (await _try(guesser, GUESSES[5])).status_code == 429
    async with client_for(config, redis, clock=clock, address="198.51.100.2") as colleague:
        assert (await _try(colleague, GUESSES[6])).status_code == 401
        assert (await _try(colleague, PASSWORD)).status_code == 303

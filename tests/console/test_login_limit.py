"""Failed logins are limited per client address (5 a minute, then 429 with Retry-After), on a pinned clock."""

from __future__ import annotations

import asyncio
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


async def test_parallel_guesses_get_no_more_than_the_limit(default_config: TripwireConfig, redis: Redis) -> None:
    """Guesses sent at the same moment: each is counted before its password is compared, so five at most are."""
    clock = FakeClock()
    async with client_for(console_config(default_config), redis, clock=clock, address="192.0.2.44") as client:
        csrf = csrf_of((await client.get("/login")).text)

        async def post(password: str) -> int:
            data = {"password": password, "csrf": csrf, "next": "/feeds"}
            return (await client.post("/login", data=data)).status_code

        statuses = await asyncio.gather(*(post(f"parallel-guess-{n}") for n in range(40)))
        assert set(statuses) <= {401, 429} and statuses.count(401) <= 4
        # Five attempts were let through to the password check; the 35 refused ones were taken out again.
        assert await redis.zcard("tripwire:console:login_failures:192.0.2.44") == 5
        assert await post(PASSWORD) == 429


async def test_an_ipv6_client_is_limited_by_its_64(default_config: TripwireConfig, redis: Redis) -> None:
    """A host chooses any address in its /64: rotating through it must not reset the count."""
    clock, config = FakeClock(), console_config(default_config)
    for n in range(5):
        async with client_for(config, redis, clock=clock, address=f"2001:db8:5:7::{n + 1:x}") as client:
            await _try(client, GUESSES[n])
    async with client_for(config, redis, clock=clock, address="2001:db8:5:7:ffff::9") as same_64:
        assert (await _try(same_64, GUESSES[5])).status_code == 429
    async with client_for(config, redis, clock=clock, address="2001:db8:5:8::1") as next_64:
        assert (await _try(next_64, PASSWORD)).status_code == 303

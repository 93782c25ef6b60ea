"""The console answers only to its own Host names (issue 26, item 7: DNS rebinding).

A page the analyst opens points a name the attacker owns (rebind.example.net) at 127.0.0.1; the browser then talks to
a console without a password, with "Host: rebind.example.net:8080". Every page refuses that Host, forms included.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from shared.config import ConfigError, TripwireConfig, parse_config
from tests.console.support import client_for, csrf_of
from tests.console.test_pages import NAMES, _dead_letter
from tests.helpers import config_with

REBOUND = "rebind.example.net:8080"
PAGES = ["/", "/healthz", "/login", "/feeds", "/items", "/alerts", "/dlq", "/tune", "/learned", "/learned.yaml",
         "/stories/s1", "/vote/link?t=x", "/static/console.css"]  # fmt: skip
FORMS = ["/dlq/drop", "/dlq/replay", "/tune/save", "/tune/clear", "/learned/remove", "/vote", "/logout", "/login"]


def no_password(base: TripwireConfig, **console: Any) -> TripwireConfig:
    """The shipped case: the console on 127.0.0.1 without a password."""
    return config_with(base, console={"session_secret": "s" * 32, **console})


async def test_a_rebound_host_is_refused_on_every_page_and_form(default_config: TripwireConfig, redis: Redis):
    # Before: GET /dlq answered 200 with the CSRF token in the page, and POST /dlq/drop all=1 dropped every letter.
    await _dead_letter(redis, 1)
    async with client_for(no_password(default_config), redis) as client:
        csrf = csrf_of((await client.get("/dlq")).text)  # the token a same-origin page would have
        for path in PAGES:
            response = await client.get(path, headers={"Host": REBOUND})
            assert response.status_code == 400, path
            assert "csrf" not in response.text
        for path in FORMS:
            response = await client.post(path, data={"all": "1", "csrf": csrf}, headers={"Host": REBOUND})
            assert response.status_code == 400, path
    assert await redis.xlen(NAMES.dlq) == 1, "nothing dropped"


@pytest.mark.parametrize("host", ["127.0.0.1:9110", "localhost:9110", "[::1]:9110", "LOCALHOST", "127.0.0.1:8088"])
async def test_the_loopback_names_are_answered(default_config: TripwireConfig, redis: Redis, host: str):
    await _dead_letter(redis, 1)
    async with client_for(no_password(default_config), redis) as client:
        page = await client.get("/dlq", headers={"Host": host})
        assert page.status_code == 200
        drop = await client.post("/dlq/drop", data={"all": "1", "csrf": csrf_of(page.text)}, headers={"Host": host})
        assert drop.status_code == 303
    assert await redis.xlen(NAMES.dlq) == 0


async def test_the_host_of_console_url_is_answered(default_config: TripwireConfig, redis: Redis):
    config = no_password(default_config, url="https://tripwire.example.com", vote_secret="v" * 32)
    async with client_for(config, redis) as client:
        assert (await client.get("/healthz", headers={"Host": "tripwire.example.com"})).status_code == 200
        assert (await client.get("/healthz", headers={"Host": REBOUND})).status_code == 400


async def test_allowed_hosts_replace_the_derived_names(default_config: TripwireConfig, redis: Redis):
    config = no_password(default_config, url="https://tripwire.example.com", vote_secret="v" * 32,
                         allowed_hosts=["Console.Internal", "*.desk.example.org"])  # fmt: skip
    assert config.console.trusted_hosts == ["localhost", "127.0.0.1", "[::1]", "console.internal", "*.desk.example.org"]
    async with client_for(config, redis) as client:
        for host, status in [("console.internal", 200), ("a.desk.example.org:443", 200), ("127.0.0.1", 200),
                             ("tripwire.example.com", 400), ("desk.example.org.evil.net", 400)]:  # fmt: skip
            assert (await client.get("/healthz", headers={"Host": host})).status_code == status, host


def test_a_specific_bind_address_is_answered_and_a_wildcard_one_is_not():
    base = TripwireConfig()
    assert "10.0.0.5" in config_with(base, console={"host": "10.0.0.5", "password": "p"}).console.trusted_hosts
    assert config_with(base, console={"host": "0.0.0.0", "password": "p"}).console.trusted_hosts == [
        "localhost", "127.0.0.1", "[::1]"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [('["*"]', "every Host header"), ('["https://tripwire.example.com"]', "not a host name"),
     ('["tripwire.example.com:443"]', "not a host name")],
)  # fmt: skip
def test_bad_allowed_hosts_say_what_to_write(value: str, message: str):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(f"console:\n  allowed_hosts: {value}\n", "tripwire.yaml", {})
    assert "console.allowed_hosts" in str(caught.value) and "\n" not in str(caught.value)

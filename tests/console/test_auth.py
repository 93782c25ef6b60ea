"""Login, sessions, CSRF, redirects and security headers of the console."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from shared.config import TripwireConfig
from tests.console.support import PASSWORD, client_for, console_config, csrf_of, logged_in
from tripwire.cli import main
from tripwire.console.auth import check_password
from tripwire.console.server import check_exposure
from tripwire.runtime import UsageError

PAGES = ["/", "/feeds", "/items", "/alerts", "/dlq"]


async def test_every_page_asks_for_login_first(default_config: TripwireConfig, redis: Redis) -> None:
    async with client_for(console_config(default_config), redis) as client:
        for path in PAGES:
            response = await client.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
        replay = await client.post("/dlq/replay", data={"all": "1"})
        assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


async def test_wrong_password_is_refused_and_right_one_opens_every_page(
    default_config: TripwireConfig, redis: Redis
) -> None:
    async with client_for(console_config(default_config), redis) as client:
        form = await client.get("/login")
        wrong = await client.post("/login", data={"password": "guess", "csrf": csrf_of(form.text)})
        assert wrong.status_code == 401 and "Wrong password." in wrong.text
        await logged_in(client)
        for path in PAGES:
            assert (await client.get(path)).status_code == 200, path


async def test_login_without_the_forms_csrf_token_is_refused(default_config: TripwireConfig, redis: Redis) -> None:
    async with client_for(console_config(default_config), redis) as client:
        await client.get("/login")
        response = await client.post("/login", data={"password": PASSWORD, "csrf": "forged"})
        assert response.status_code == 403
        assert (await client.get("/feeds")).status_code == 303


async def test_session_cookie_is_httponly_samesite_and_signed(default_config: TripwireConfig, redis: Redis) -> None:
    async with client_for(console_config(default_config), redis) as client:
        form = await client.get("/login")
        cookie = form.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        await logged_in(client)
        # A cookie altered by hand is not a session.
        value = client.cookies["tripwire_console"]
        client.cookies.set("tripwire_console", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
        assert (await client.get("/feeds")).status_code == 303


async def test_logout_ends_the_session(default_config: TripwireConfig, redis: Redis) -> None:
    async with client_for(console_config(default_config), redis) as client:
        csrf = await logged_in(client)
        assert (await client.post("/logout", data={"csrf": csrf})).status_code == 303
        assert (await client.get("/feeds")).status_code == 303


async def test_login_never_redirects_off_site(default_config: TripwireConfig, redis: Redis) -> None:
    async with client_for(console_config(default_config), redis) as client:
        form = await client.get("/login")
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            data = {"password": PASSWORD, "csrf": csrf_of(form.text), "next": target}
            response = await client.post("/login", data=data)
            assert response.headers["location"] == "/", target
            form = await client.get("/login")


async def test_pages_carry_security_headers(default_config: TripwireConfig, redis: Redis) -> None:
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        headers = (await client.get("/items")).headers
        assert "script-src" not in headers["content-security-policy"]  # default-src 'self' covers scripts
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


async def test_without_a_password_loopback_needs_no_login(default_config: TripwireConfig, redis: Redis) -> None:
    config = console_config(default_config, password=None)
    async with client_for(config, redis) as client:
        assert (await client.get("/feeds")).status_code == 200
        assert (await client.get("/login")).headers["location"] == "/"


def test_console_refuses_to_listen_beyond_loopback_without_a_password(default_config: TripwireConfig) -> None:
    open_console = console_config(default_config, password=None, host="0.0.0.0").console
    with pytest.raises(UsageError, match=r"console\.password"):
        check_exposure(open_console)
    check_exposure(console_config(default_config, password=None, host="127.0.0.1").console)
    check_exposure(console_config(default_config, host="0.0.0.0").console)


def test_cli_exits_2_with_one_line_when_exposed_without_password(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    code = main(["console", "--host", "0.0.0.0", "--config", "config/tripwire.yaml"])
    assert code == 2
    err = capsys.readouterr().err
    assert "console.password" in err and "127.0.0.1" in err


async def test_healthz_answers_without_login_and_shows_nothing_else(
    default_config: TripwireConfig, redis: Redis
) -> None:
    async with client_for(console_config(default_config), redis) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"
    assert response.headers["x-frame-options"] == "DENY"


def test_an_empty_password_never_logs_in_and_never_opens_the_console(default_config: TripwireConfig) -> None:
    assert not check_password(SecretStr(""), "")
    blank = default_config.console.model_copy(update={"password": SecretStr(" "), "host": "0.0.0.0"})
    with pytest.raises(UsageError, match="TRIPWIRE_CONSOLE_PASSWORD"):
        check_exposure(blank)

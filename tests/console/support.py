"""Shared pieces of the console tests: a config with a password, an app over the test Redis, a logged-in client."""

from __future__ import annotations

import re
from typing import Any

import httpx
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from shared.config import TripwireConfig
from tests.helpers import config_with
from tests.notifier.support import SECRET, FakeClock, sub
from tripwire.console.app import create_app

PASSWORD = "correct horse battery staple"
HOOK_URL = "https://hooks.example/secret-path-0123456789"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_config(base: TripwireConfig, **console: Any) -> TripwireConfig:
    """The shipped config with two feeds, a webhook subscription (a secret URL) and a console password."""
    feeds = [
        {"url": "https://ok.example/rss", "name": "Fine feed"},
        {"url": "https://broken.example/rss", "name": "Broken feed"},
    ]
    subs = [sub("analysts", HOOK_URL, topics=["us_russia_standoff"], secret=SECRET)]
    return config_with(
        base, feeds=feeds, subscriptions=subs, console={"password": PASSWORD, "session_secret": "s" * 32, **console}
    )


def client_for(
    config: TripwireConfig,
    redis: Redis,
    embedder: Embedder | None = None,
    *,
    clock: FakeClock | None = None,
    address: str = "127.0.0.1",
) -> httpx.AsyncClient:
    """An HTTP client talking to the console app in-process (real Starlette, real Redis, the real model if given),
    from client ``address``."""

    def model() -> Embedder:
        assert embedder is not None, "this test does not expect the console to load the model"
        return embedder

    app = create_app(config, redis, clock or FakeClock(), "test-session-secret-" + "x" * 16, model)
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    # A Host the console answers to by default (it refuses unknown Host headers: DNS rebinding).
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9110")


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def logged_in(client: httpx.AsyncClient) -> str:
    """Log in with the right password; returns the session's CSRF token."""
    form = await client.get("/login")
    response = await client.post("/login", data={"password": PASSWORD, "csrf": csrf_of(form.text), "next": "/feeds"})
    assert response.status_code == 303, response.text
    page = await client.get("/feeds")
    return csrf_of(page.text)

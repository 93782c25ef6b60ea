"""Silences clicked through in a real headless Chromium: mute a story from its alert card, see the next follow-up
recorded as silenced (not delivered to the local receiver), expire the silence, see the one after delivered; the
signed mute link's confirmation page; the Overview's latest stories. Screenshots go to docs/console/ for the docs.

Skipped when /usr/bin/chromium is missing (``apt-get install -y chromium``; CI does).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.mute_links import mute_url
from shared.schemas import Alert, FeedRef, Place
from tests.conftest import REPO_ROOT
from tests.console.support import PASSWORD, console_config
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.console.app import create_app
from tripwire.local_http import LocalServer, Reply

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO_ROOT / "docs" / "console"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
VOTE_SECRET = "vote-secret-for-browser-tests-0123"
TOPIC = "us_russia_standoff"
STORY = "derik-standoff"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"browser tests need Chromium at {CHROMIUM}: run 'apt-get install -y chromium' (as root) to enable them",
    ),
]


def report(n: int, outlet: str, title: str, language: str, update: bool, now: datetime) -> Alert:
    alert = make_alert(n, title=title, summary="", language=language,
                       feed=FeedRef(url=f"https://{outlet.lower()}.example/rss", title=outlet))  # fmt: skip
    return alert.model_copy(update={
        "story_id": STORY, "story_title": "US and Russian patrols face off outside Derik",
        "event": "story.update" if update else "story.new", "story_sources": n,
        "places": [Place(name="Derik", lat=37.06, lon=42.19)],
        "created_at": now.replace(microsecond=0) - timedelta(minutes=50 - 10 * n),
    })  # fmt: skip


@dataclass
class Deployment:
    url: str
    config: TripwireConfig
    receiver: LocalServer
    clock: FakeClock


@pytest.fixture
async def deployment(default_config: TripwireConfig, redis: Redis) -> AsyncIterator[Deployment]:
    """The console on a real uvicorn and a webhook receiver, both on 127.0.0.1."""
    with LocalServer(lambda _r: Reply(204)) as receiver:
        hook = sub("analysts", f"{receiver.url}/hook", topics=[TOPIC], updates="each")
        base = console_config(default_config, vote_secret=VOTE_SECRET, url="http://127.0.0.1")
        config = notifier_config(base, [hook])
        clock = FakeClock()
        app = create_app(config, redis, clock, "browser-test-session-secret-xxxx", lambda: None)  # type: ignore[arg-type,return-value]
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        yield Deployment(f"http://127.0.0.1:{sock.getsockname()[1]}", config, receiver, clock)
        server.should_exit = True
        await task
        sock.close()


async def notify(deployment: Deployment, redis: Redis, http: httpx.AsyncClient, *alerts: Alert) -> None:
    """Publish ``alerts`` and let a notifier deliver them (drain mode: it returns when done)."""
    await publish_messages(redis, *alerts)
    await make_notifier(deployment.config, redis, http, deployment.clock).run(asyncio.Event(), drain=True)


def delivered(deployment: Deployment) -> list[str]:
    return [request.body.decode() for request in deployment.receiver.requests]


async def test_mute_a_story_see_the_follow_up_silenced_then_unsilence(
    deployment: Deployment, redis: Redis, http: httpx.AsyncClient
) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    url = deployment.url
    await notify(
        deployment,
        redis,
        http,
        report(1, "Wire", "US and Russian patrols face off outside Derik", "en", False, deployment.clock.now()),
    )
    assert len(delivered(deployment)) == 1
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # A viewer in Istanbul (UTC+3): the exact time on hover is in their zone, not the server's.
        page = await browser.new_page(
            viewport={"width": 1100, "height": 900}, timezone_id="Europe/Istanbul", locale="en-GB"
        )
        try:
            await page.goto(f"{url}/login?next=/")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit] >> text=Log in")
            await expect(page.locator("#latest-stories article.latest-story")).to_have_count(1)
            first = page.locator("#latest-stories time")
            utc = datetime.fromisoformat(str(await first.get_attribute("datetime")))
            await expect(first).to_contain_text("40 min ago")
            await expect(first).to_have_attribute(
                "title", re.compile(f"{(utc + timedelta(hours=3)):%H:%M:%S}.*GMT\\+3")
            )

            # Mute from the alert card: the form comes filled in with the story.
            await page.click("nav >> text=Alerts")
            await page.locator("article.story a.mute").click()
            await expect(page.locator("#silence-matchers")).to_have_value(f"story={STORY}")
            await page.fill("#silence-duration", "2h")
            await page.fill("#silence-reason", "followed on the wire; back when it changes")
            await page.click("#silence-submit")
            live = page.locator("#silences-live tr.silence-active")
            await expect(live).to_have_count(1)
            await expect(live).to_contain_text("ends in 2 h")
            await expect(live).to_contain_text("followed on the wire")

            # The next follow-up is recorded as silenced, not delivered, and shown as such.
            await notify(
                deployment,
                redis,
                http,
                report(2, "Herald", "Patrols still facing off near Derik", "ar", True, deployment.clock.now()),
            )
            assert len(delivered(deployment)) == 1
            await page.click("nav >> text=Alerts")
            await expect(page.locator(".status-silenced")).to_have_count(1)
            await page.screenshot(path=str(SHOTS / "alerts-silenced.png"), full_page=True)
            await page.click("nav >> text=Silences")
            await expect(page.locator("#silenced-alerts tr.silenced-row")).to_have_count(1)
            await page.screenshot(path=str(SHOTS / "silences.png"), full_page=True)

            # Unsilence: expire it; the follow-up after that is delivered.
            await live.locator("button", has_text="Expire").click()
            await expect(page.locator("#silences-live tr.silence")).to_have_count(0)
            await expect(page.locator("#silences-expired tr.silence-expired")).to_have_count(1)
            await notify(
                deployment,
                redis,
                http,
                report(3, "Gazette", "Derik stand-off ends", "tr", True, deployment.clock.now()),
            )
            assert len(delivered(deployment)) == 2 and "Derik stand-off ends" in delivered(deployment)[1]

            await page.click("nav >> text=Overview")
            await expect(page.locator("#latest-stories")).to_contain_text("3 reports")
            await page.locator("#latest-stories").screenshot(path=str(SHOTS / "latest-stories.png"))
            await page.click("nav >> text=Alerts")
            await page.screenshot(path=str(SHOTS / "alerts.png"), full_page=True)
        finally:
            await browser.close()


async def test_a_mute_link_asks_before_it_mutes(deployment: Deployment, redis: Redis) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    expires = int(deployment.clock.now().timestamp()) + 3600
    link = mute_url(deployment.url, VOTE_SECRET.encode(), STORY, expires)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 900, "height": 600})
        try:
            await page.goto(link)  # as a click in Slack would open it: not logged in
            await expect(page.locator("#mute-confirm")).to_have_text("Mute for 24 h")
            await page.screenshot(path=str(SHOTS / "mute-link.png"), full_page=True)
            await page.fill("input[name=reason]", "we follow it on the wire")
            await page.click("#mute-confirm")
            await expect(page.locator("#mute-done")).to_contain_text("Muted")
        finally:
            await browser.close()
    from shared.silences import SilenceStore
    from shared.streams import StreamNames

    [silence] = await SilenceStore(redis, StreamNames("tripwire:")).active(deployment.clock.now())
    assert (silence.describe(), silence.created_by, silence.reason) == (
        f"story={STORY}",
        "link",
        "we follow it on the wire",
    )

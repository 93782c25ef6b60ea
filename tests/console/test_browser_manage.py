"""Managing from the console in a real headless Chromium: add a feed from a site's page served on 127.0.0.1, add a
subscription, send it a test alert that a local receiver gets. Screenshots go to docs/console/ for the docs.

Skipped when /usr/bin/chromium is missing (``apt-get install -y chromium``; CI does).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest
import uvicorn
from redis.asyncio import Redis

from shared.config import load_config_file
from tests.conftest import REPO_ROOT
from tests.console.support import PASSWORD
from tests.console.test_manage import COMMENT, write_config
from tests.helpers import rss
from tests.notifier.support import FakeClock
from tests.poller.support import story
from tripwire.console.app import create_app
from tripwire.local_http import LocalServer, ReceivedRequest, Reply

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO_ROOT / "docs" / "console"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGE = b'<html><head><link rel="alternate" type="application/rss+xml" href="/news.rss"></head><body>news</body></html>'

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"browser tests need Chromium at {CHROMIUM}: run 'apt-get install -y chromium' (as root) to enable them",
    ),
]


def site(request: ReceivedRequest) -> Reply:
    if request.path == "/news.rss":
        return Reply(200, rss([story(1)], title="Derik Daily"), {"Content-Type": "application/rss+xml"})
    return Reply(200, PAGE, {"Content-Type": "text/html"})


async def test_add_a_feed_and_a_subscription_then_send_a_test_alert(redis: Redis, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp_path / "tripwire.yaml")
    app = create_app(load_config_file(path), redis, FakeClock(), "browser-test-session-secret-xxxx", lambda: None,  # type: ignore[arg-type,return-value]
                     config_path=path)  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with LocalServer(site) as news, LocalServer(lambda _r: Reply(204)) as receiver:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = await browser.new_page(viewport={"width": 1100, "height": 900})
                try:
                    await page.goto(f"{url}/login?next=/manage")
                    await page.fill("input[name=password]", PASSWORD)
                    await page.click("button[type=submit] >> text=Log in")

                    await page.fill("#feed-site", f"{news.url}/")
                    await page.click("#feed-discover")
                    candidate = page.locator("#feed-candidates tr.candidate")
                    await expect(candidate).to_contain_text("Derik Daily")
                    await page.screenshot(path=str(SHOTS / "manage-discover.png"), full_page=True)
                    await candidate.locator("button", has_text="Add").click()
                    await expect(page.locator("#manage-notice")).to_contain_text("Feed added: Derik Daily")
                    await expect(page.locator(f'tr.managed-feed[data-url="{news.url}/news.rss"]')).to_have_count(1)

                    await page.fill("#sub-name", "desk")
                    await page.select_option("#sub-type", "webhook")
                    await page.fill("#sub-url", f"{receiver.url}/desk")
                    await page.select_option("#sub-topics", ["us_russia_standoff"])
                    await page.click("#sub-save")
                    await expect(page.locator("#manage-notice")).to_contain_text("Subscription added: desk")
                    row = page.locator('tr.managed-sub[data-name="desk"]')
                    await row.locator("button", has_text="Send test alert").click()
                    await expect(page.locator("#manage-notice")).to_contain_text("Test alert delivered to desk")
                    await page.screenshot(path=str(SHOTS / "manage.png"), full_page=True)
                finally:
                    await browser.close()
            assert [r.path for r in receiver.requests] == ["/desk"]
        config = load_config_file(path)
        assert f"{news.url}/news.rss" in [feed.url for feed in config.feeds]
        assert "desk" in [sub.name for sub in config.subscriptions]
        assert COMMENT in path.read_text(encoding="utf-8")
    finally:
        server.should_exit = True
        await task
        sock.close()

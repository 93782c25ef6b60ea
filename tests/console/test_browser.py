"""The console's main paths clicked through in a real headless Chromium (Debian's package, driven by Playwright).

Skipped when /usr/bin/chromium is missing: install it with ``apt-get install -y chromium`` (CI does). Screenshots
of each main page go to test-artifacts/console/.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import uvicorn
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from services.notifier.channel import Delivery
from services.notifier.routing import delivery_id
from services.notifier.store import DeliveryRecord, DeliveryStore
from services.poller.state import FeedState, FeedStateStore
from shared.config import TripwireConfig
from shared.schemas import FeedRef
from shared.streams import StreamNames, publish
from tests.conftest import REPO_ROOT
from tests.console.support import PASSWORD, console_config
from tests.notifier.support import T0, FakeClock, make_alert
from tripwire.console.app import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
NAMES = StreamNames("tripwire:")
TOPIC = "us_russia_standoff"
TITLES = [
    "Russian military police block US convoy on the M4 highway near Tal Tamr",
    "US and Russian patrols face off on the road outside Derik",
    "City council approves budget for new public library branch",
]
# Another outlet's report of the first story (the same link): it joins that story as an update.
STORY_UPDATE = "Russian police stop American convoy on the M4 road near Tal Tamr, officials say"
ITEMS = len(TITLES) + 1

pytestmark = [
    pytest.mark.slow,
    pytest.mark.model,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"browser tests need Chromium at {CHROMIUM}: run 'apt-get install -y chromium' (as root) to enable them",
    ),
]


async def _seed(redis: Redis, config: TripwireConfig, embedder: Embedder) -> str:
    states = FeedStateStore(redis, NAMES)
    await states.save(FeedState(url="https://ok.example/rss", last_success=T0, items_published=40))
    await states.save(FeedState(url="https://broken.example/rss", health="failing", consecutive_failures=5,
                                last_error="HTTP 503 Service Unavailable", last_error_at=T0))  # fmt: skip
    for n, title in enumerate(TITLES, start=1):
        await publish(redis, NAMES.items, make_alert(n, title=title, summary="").item.to_json(), 100_000)
    other = FeedRef(url="https://other.example/rss", title="Other Outlet")
    update = make_alert(len(TITLES) + 1, title=STORY_UPDATE, summary="", feed=other, link=make_alert(1).item.link)
    await publish(redis, NAMES.items, update.item.to_json(), 100_000)
    await Classifier(config, redis, Scorer(config.topics, embedder), "c1").run(asyncio.Event(), drain=True)
    dead = make_alert(9, title="Convoy standoff that could not be delivered")
    delivery = Delivery(delivery_id(dead.id, "analysts"), "analysts", (dead,), False, 5)
    return await DeliveryStore(redis, NAMES, 1000).dead_letter(
        DeliveryRecord(delivery, "HTTP 500 five times", 500), True, datetime(2026, 11, 21, tzinfo=UTC)
    )


@pytest.fixture
async def console_url(default_config: TripwireConfig, redis: Redis, embedder: Embedder) -> AsyncIterator[str]:
    """A real uvicorn serving the console on 127.0.0.1, over seeded data."""
    config = console_config(default_config)
    await _seed(redis, config, embedder)
    app = create_app(config, redis, FakeClock(), "browser-test-session-secret-xxxx", lambda: embedder)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # listening before the server task runs: the browser's first request waits in the backlog
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


async def test_main_paths_in_a_real_browser(console_url: str, redis: Redis) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        try:
            await _log_in(page, console_url)
            await _broken_feed(page, console_url)
            await _move_threshold(page, console_url)
            await _see_story(page, console_url)
            await _vote_down(page, console_url)
            await _replay_dead_letter(page, console_url, redis)
            await page.set_viewport_size({"width": 390, "height": 844})  # a phone
            await page.goto(f"{console_url}/items")
            await page.screenshot(path=str(ARTIFACTS / "items-phone.png"), full_page=True)
        finally:
            await browser.close()


async def _log_in(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.goto(f"{url}/items")
    await expect(page).to_have_url(f"{url}/login?next=%2Fitems")
    await page.fill("input[name=password]", "wrong")
    await page.click("button[type=submit] >> text=Log in")
    await expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit] >> text=Log in")
    await expect(page).to_have_url(f"{url}/items")
    await expect(page.locator("article.item")).to_have_count(ITEMS)
    await page.screenshot(path=str(ARTIFACTS / "items.png"), full_page=True)


async def _broken_feed(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.click("nav >> text=Feeds")
    await expect(page.locator("tr.feed")).to_have_count(2)
    await page.click("#broken-only")
    await expect(page.locator("tr.feed")).to_have_count(1)
    await expect(page.locator("tr.feed")).to_contain_text("Broken feed")
    await expect(page.locator("tr.feed")).to_contain_text("HTTP 503 Service Unavailable")
    await page.screenshot(path=str(ARTIFACTS / "feeds-broken.png"), full_page=True)


async def _move_threshold(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.goto(f"{url}/tune?topic={TOPIC}")
    before = int(await page.locator("#would-alert").inner_text())
    async with page.expect_navigation():
        await page.locator("#threshold").fill("0")
    await expect(page.locator("#threshold-value")).to_have_text("0.00")
    await expect(page.locator("#would-alert")).to_have_text(str(ITEMS))
    async with page.expect_navigation():
        await page.locator("#threshold").fill("1")
    await expect(page.locator("#would-alert")).to_have_text("0")
    assert before not in (0, ITEMS)
    # The subscription's min_score on its own slider: at 1 it would get nothing.
    async with page.expect_navigation():
        await page.locator("#min-score").fill("1")
    await expect(page.locator("#min-score-value")).to_have_text("1.00")
    await expect(page.locator("#sub-would-get")).to_have_text("0")
    await page.screenshot(path=str(ARTIFACTS / "tune.png"), full_page=True)


async def _see_story(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.click("nav >> text=Alerts")
    story = page.locator("article.story").filter(has=page.locator(".alert-entry.lead", has_text=TITLES[0]))
    await expect(story).to_have_count(1)
    await expect(story.locator("li.update").filter(has_text=STORY_UPDATE)).to_have_count(1)
    await expect(story.locator("li.update").filter(has_text=STORY_UPDATE)).to_contain_text("Other Outlet")
    await expect(story.locator(".source-count")).to_have_text("2")
    await story.locator("a.story-link").click()
    await expect(page.locator("#story-filter")).to_be_visible()
    await expect(page.locator("article.alert")).to_have_count(1)
    await expect(page.locator("article.alert li.update")).to_contain_text(STORY_UPDATE)
    await page.screenshot(path=str(ARTIFACTS / "alerts-story.png"), full_page=True)


async def _vote_down(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.click("nav >> text=Alerts")
    first = page.locator(".alert-entry.lead").filter(has_text=TITLES[0])
    await page.screenshot(path=str(ARTIFACTS / "alerts.png"), full_page=True)
    await first.locator("button[value=not_relevant]").click()
    await expect(page).to_have_url(f"{url}/alerts")
    await page.click("nav >> text=Learned")
    await expect(page.locator(".learned")).to_contain_text(TITLES[0])
    fallen = page.locator("#moved tr").filter(has_text=TITLES[0])
    await expect(fallen.locator("td.score.down")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "learned.png"), full_page=True)


async def _replay_dead_letter(page: object, url: str, redis: Redis) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.click("nav >> text=Dead letters")
    await expect(page.locator("article.letter")).to_contain_text("HTTP 500 five times")
    await page.screenshot(path=str(ARTIFACTS / "dead-letters.png"), full_page=True)
    await page.locator("article.letter button", has_text="Replay").click()
    await expect(page.get_by_role("status")).to_have_text("replayed 1")
    await expect(page.locator("article.letter")).to_have_count(0)
    assert await DeliveryStore(redis, NAMES, 1000).schedule_size() == 1

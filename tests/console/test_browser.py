"""The console's main paths clicked through in a real headless Chromium (Debian's package, driven by Playwright).

Skipped when /usr/bin/chromium is missing: install it with ``apt-get install -y chromium`` (CI does). Screenshots
of each main page go to test-artifacts/console/.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

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
from shared.stats import count_alerts
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
LABELED = "\n".join(json.dumps(row) for row in [
    {"title": TITLES[0], "labels": [TOPIC]}, {"title": TITLES[1], "labels": [TOPIC]},
    {"title": TITLES[2], "labels": []}, {"title": "Harvest festival draws crowds to the old town", "labels": []},
])  # fmt: skip

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
        item = make_alert(n, title=title, summary="", language="en").item
        await publish(redis, NAMES.items, item.to_json(), 100_000)
    scorer, now = Scorer(config.topics, embedder), datetime.now(UTC).replace(microsecond=0)
    # Classified 100 minutes before the other outlet's report, so the story's timeline has a span to show.
    first = Classifier(config, redis, scorer, "c1", clock=FakeClock(now - timedelta(minutes=100)))
    await first.run(asyncio.Event(), drain=True)
    other = FeedRef(url="https://other.example/rss", title="Other Outlet")
    update = make_alert(len(TITLES) + 1, title=STORY_UPDATE, summary="", feed=other, link=make_alert(1).item.link)
    await publish(redis, NAMES.items, update.item.to_json(), 100_000)
    await Classifier(config, redis, scorer, "c1", clock=FakeClock(now)).run(asyncio.Event(), drain=True)
    # A week of earlier alerts, counted as the classifier counts them (shared/stats.py), for the overview's chart.
    async with redis.pipeline(transaction=False) as pipe:
        for back in range(2, 168):
            counts = ["us_russia_standoff"] * ((back % 7 in (0, 3)) + 2 * (back % 23 == 0))
            counts += ["joint_patrol"] * (back % 11 in (0, 4))
            count_alerts(pipe, NAMES, counts, datetime.now(UTC) - timedelta(hours=back))
        await pipe.execute()
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
            await _see_overview(page, console_url)
            await _broken_feed(page, console_url)
            await _move_threshold(page, console_url)
            await _histogram_follows_threshold(page, console_url)
            await _see_story(page, console_url)
            await _see_story_timeline(page, console_url)
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


async def _see_overview(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.click("nav >> text=Overview")
    await expect(page).to_have_url(f"{url}/")
    # Drawn with data, not an empty frame: one bar per (hour, topic) with alerts, one per (feed, language).
    assert await page.locator("svg.chart-alerts rect.bar").count() >= 1
    assert await page.locator("svg.chart-items rect.bar").count() >= 1
    await expect(page.locator("#feeds-failing strong")).to_have_text("1")
    await expect(page.locator("#dead-letters strong")).to_have_text("1")
    await expect(page.locator("#consumer-lag tr.stream")).to_have_count(2)
    await page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)


async def _histogram_follows_threshold(page: object, url: str) -> None:
    from playwright.async_api import FilePayload, Page, expect

    assert isinstance(page, Page)
    await page.goto(f"{url}/tune?topic={TOPIC}&threshold=0.50")
    histogram = page.locator("#score-histogram svg.chart-histogram")
    assert await histogram.locator("rect.bar").count() >= 2  # the stored items' scores in bins
    line = page.locator("#threshold-line")
    await expect(line).to_have_attribute("x1", "320.0")  # 40 + 560 * 0.50
    # A labeled file puts precision and recall on the same score axis.
    labeled = FilePayload(name="labeled.jsonl", mimeType="application/json", buffer=LABELED.encode())
    await page.set_input_files("input[name=file]", files=[labeled])
    async with page.expect_navigation():
        await page.click("button >> text=Upload and score")
    await expect(histogram.locator("polyline.precision")).to_have_count(1)
    await expect(histogram.locator("polyline.recall")).to_have_count(1)
    async with page.expect_navigation():
        await page.locator("#threshold").fill("0.7")
    await expect(page.locator("#threshold-line")).to_have_attribute("x1", "432.0")
    await page.locator("#score-histogram").screenshot(path=str(ARTIFACTS / "tune-histogram.png"))


async def _see_story_timeline(page: object, url: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.click("nav >> text=Alerts")
    story = page.locator("article.story").filter(has=page.locator(".alert-entry.lead", has_text=TITLES[0]))
    await story.locator("a.timeline-link").click()
    await expect(page.locator("h1")).to_contain_text(TITLES[0])
    timeline = page.locator("svg.chart-timeline")
    await expect(timeline.locator("rect.report.first")).to_have_count(1)
    await expect(timeline.locator("circle.report")).to_have_count(1)  # the other outlet's report
    await expect(page.locator("tr.report-row")).to_have_count(2)
    await expect(page.locator("tr.report-row").nth(1)).to_contain_text("Other Outlet")
    region = page.locator("svg.chart-map")
    assert await region.locator("path.country").count() >= 5
    await expect(region.locator("circle.place")).to_have_count(2)  # Tal Tamr and the M4 both reports name
    await expect(region.locator("polyline.route")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "story.png"), full_page=True)

"""The console's charts over data written the way the services write it: the overview, a story's timeline and map."""

from __future__ import annotations

import re
from datetime import timedelta

from redis.asyncio import Redis

from services.poller.state import FeedState, FeedStateStore
from shared.config import TripwireConfig
from shared.schemas import Alert, FeedRef, Place
from shared.stats import count_alerts, count_items
from shared.streams import StreamNames
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import T0, FakeClock, make_alert, publish_messages

NAMES = StreamNames("tripwire:")
XSS = "<script>alert(1)</script> Outlet"


def story_alert(n: int, event: str, *, minutes: int, language: str | None, places: list[Place]) -> Alert:
    feed = FeedRef(url=f"https://outlet{n}.example/rss", title=f"Outlet {n}" if n != 3 else XSS)
    alert = make_alert(n, feed=feed, language=language)
    return alert.model_copy(
        update={"story_id": "s1", "event": event, "story_sources": n, "story_title": "Standoff near Derik",
                "created_at": T0 + timedelta(minutes=minutes), "places": places, "score": 0.6 + n / 20}
    )  # fmt: skip


def count(html: str, pattern: str) -> int:
    return len(re.findall(pattern, html))


async def test_overview_charts_counters_feed_health_dead_letters_and_lag(
    default_config: TripwireConfig, redis: Redis
) -> None:
    clock = FakeClock(T0)
    async with redis.pipeline(transaction=False) as pipe:
        count_alerts(pipe, NAMES, ["us_russia_standoff"] * 3 + ["joint_patrol"], T0)
        count_alerts(pipe, NAMES, ["joint_patrol"], T0 - timedelta(hours=30))
        count_alerts(pipe, NAMES, ["joint_patrol"], T0 - timedelta(days=9))  # outside the 7 days shown
        items = [make_alert(n).item for n in range(4)] + [make_alert(9, language="ru").item]
        count_items(pipe, NAMES, items, T0)
        await pipe.execute()
    states = FeedStateStore(redis, NAMES)
    await states.save(FeedState(url="https://broken.example/rss", health="failing", consecutive_failures=3))
    await publish_messages(redis, make_alert(1))  # the alerts stream exists, its group does not (not started)
    async with client_for(console_config(default_config), redis, clock=clock) as client:
        await logged_in(client)
        page = (await client.get("/")).text
    bars = re.search(r'<svg class="chart chart-alerts".*?</svg>', page, re.S)
    assert bars is not None
    assert count(bars.group(0), r'<rect class="bar"') == 3  # T0's hour (two topics stacked) and 30 hours before
    assert '<span id="alerts-total">5</span>' in page
    items_chart = re.search(r'<svg class="chart chart-items".*?</svg>', page, re.S)
    assert items_chart is not None and count(items_chart.group(0), r'<rect class="bar"') == 2
    assert (
        "https://news.example/rss · unknown" in page and "https://news.example/rss · ru" in page
    )  # not configured: its URL
    assert re.search(r'id="feeds-failing" href="/feeds\?broken=1"><strong>1</strong> failing feed', page)
    assert re.search(r'id="dead-letters" href="/dlq"><strong>0</strong> dead letters', page)
    assert page.count('class="chart chart-fill chart-lag"') == 2 and "not started" in page
    assert "1 / 100000" in page  # the alerts stream's length against its cap


async def test_story_timeline_orders_reports_shows_language_escapes_outlets_and_maps_places(
    default_config: TripwireConfig, redis: Redis
) -> None:
    derik, m4 = Place(name="Derik", lat=37.06, lon=42.18), Place(name="M4 highway", lat=36.38, lon=38.86)
    await publish_messages(
        redis,
        story_alert(2, "story.update", minutes=40, language="ar", places=[m4]),
        story_alert(1, "story.new", minutes=0, language="en", places=[derik]),
        story_alert(3, "story.update", minutes=95, language=None, places=[derik, m4]),
        make_alert(7),  # another alert, of no story
    )
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        alerts = (await client.get("/alerts")).text
        assert 'href="/stories/s1" class="timeline-link"' in alerts
        page = (await client.get("/stories/s1")).text
        missing = await client.get("/stories/nope")
        hostile = await client.get("/stories/..%2F..%2Fetc")
    assert missing.status_code == 404 and hostile.status_code == 404
    timeline = re.search(r'<svg class="chart chart-timeline".*?</svg>', page, re.S)
    assert timeline is not None
    assert count(timeline.group(0), r'<rect class="report first"') == 1
    assert count(timeline.group(0), r'<circle class="report"') == 2
    rows = re.findall(
        r'<tr class="report-row[^"]*"><td><time [^>]*>[^<]*</time></td>\s*<td>([^<]*)</td><td>([^<]*)</td>', page
    )
    assert rows == [("Outlet 1", "en"), ("Outlet 2", "ar"), ("&lt;script&gt;alert(1)&lt;/script&gt; Outlet", "unknown")]
    assert "<script>alert(1)" not in page
    region = re.search(r'<svg class="chart chart-map".*?</svg>', page, re.S)
    assert region is not None
    assert count(region.group(0), r'<path class="country') >= 5  # Syria and its neighbours
    assert count(region.group(0), r'<circle class="place"') == 2
    assert count(region.group(0), r'<polyline class="route"') == 1  # the M4, drawn along its route

"""Alerts at a glance: the Overview opens with the latest stories, times read "12 min ago" with the exact instant
in a <time datetime> element, ids sit behind a toggle, vote buttons say what they do, keywords are listed once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from services.classifier.keywords import KeywordMatch
from shared.config import TripwireConfig
from shared.schemas import FeedRef, Place, Reasons
from shared.silences import Matcher, SilenceStore, new_silence
from shared.streams import StreamNames
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import FakeClock, make_alert, publish_messages
from tripwire.console.timefmt import relative

NOW = datetime(2026, 12, 4, 17, 50, tzinfo=UTC)


def _story(n: int, story: str, minutes_ago: int, feed: str, language: str, update: bool):  # type: ignore[no-untyped-def]
    alert = make_alert(n, feed=FeedRef(url=f"https://{feed}.example/rss", title=feed.title()), language=language)
    reasons = Reasons(score=0.8, threshold=0.55, keywords=["drone", "jet", "jet", "Jet"])
    return alert.model_copy(update={
        "story_id": story, "story_title": f"Story {story}", "event": "story.update" if update else "story.new",
        "created_at": NOW - timedelta(minutes=minutes_ago), "reasons": reasons,
        "places": [Place(name="Derik", lat=37.06, lon=42.19)] if story == "derik" else [],
    })  # fmt: skip


async def test_the_overview_opens_with_the_latest_stories(redis: Redis, default_config: TripwireConfig):
    await publish_messages(
        redis,
        _story(1, "derik", 130, "wire", "en", update=False),
        _story(2, "idlib", 40, "gazette", "tr", update=False),
        _story(3, "derik", 12, "herald", "ar", update=True),
    )
    async with client_for(console_config(default_config), redis, clock=FakeClock(NOW)) as client:
        await logged_in(client)
        page = (await client.get("/")).text
    latest = re.search(r'<section class="card" id="latest-stories">.*?</section>', page, re.S)
    assert latest is not None and page.index('id="latest-stories"') < page.index('id="alerts-per-hour"')
    stories = re.findall(r'<article class="latest-story">(.*?)</article>', latest.group(0), re.S)
    assert len(stories) == 2
    derik, idlib = stories  # the story with the newest report first
    # The title links to the article; topic, languages, outlets, places, and the time as people say it.
    assert '<a href="https://news.example/a/1" class="article-link"' in derik
    assert "us_russia_standoff" in derik and "English" in derik and "Arabic" in derik
    assert "Wire, Herald" in derik and "Derik" in derik and "2 reports" in derik
    assert re.search(
        r'last <time datetime="2026-12-04T17:38:00\+00:00" title="2026-12-04 17:38:00 UTC">12 min ago</time>', derik
    )
    assert "40 min ago" in idlib and "Turkish" in idlib
    # Ids only behind a toggle.
    assert re.search(r'<details class="ids"><summary>ids</summary>story <code>derik</code>', derik)
    assert 'href="/silences?story=derik"' in derik


async def test_a_muted_story_says_so_on_the_overview(redis: Redis, default_config: TripwireConfig):
    await publish_messages(redis, _story(1, "derik", 5, "wire", "en", update=False))
    silence = new_silence([Matcher(field="story", value="derik")], 3 * 3600, "on the wire", "editor", NOW)
    await SilenceStore(redis, StreamNames("tripwire:")).add(silence)
    async with client_for(console_config(default_config), redis, clock=FakeClock(NOW)) as client:
        await logged_in(client)
        page = (await client.get("/")).text
    story = re.search(r'<article class="latest-story">(.*?)</article>', page, re.S)
    assert story is not None and 'class="silenced-badge">muted</span>' in story.group(1)
    assert re.search(r"ends <time [^>]+>in 3 h</time>", story.group(1))
    assert 'class="mute"' not in story.group(1)


async def test_alert_cards_list_keywords_once_and_label_vote_buttons(redis: Redis, default_config: TripwireConfig):
    await publish_messages(redis, _story(1, "derik", 5, "wire", "en", update=False))
    async with client_for(console_config(default_config), redis, clock=FakeClock(NOW)) as client:
        await logged_in(client)
        page = (await client.get("/alerts")).text
    assert "<li>keywords: drone, jet</li>" in page
    buttons = re.findall(r'<button type="submit" name="vote"[^>]*>([^<]*)</button>', page)
    assert buttons == ["Relevant", "Not relevant"]  # words, not emoji a machine without the font shows as boxes
    assert '<a href="https://news.example/a/1" class="article-link"' in page
    assert re.search(r"<time datetime=[^>]+>5 min ago</time>", page)
    assert re.search(r'<details class="ids"><summary>ids</summary>alert <code>alert-1-us_russia_standoff</code>', page)


def test_keyword_matches_name_each_term_once():
    match = KeywordMatch(any_terms=["drone", "jet", "Jet"], groups_matched=[["jet", "convoy"]], vetoed_by=None)
    assert match.terms == ["drone", "jet", "convoy"]


def test_relative_times_read_as_people_say_them():
    assert relative(NOW - timedelta(minutes=12), NOW) == "12 min ago"
    assert relative(NOW + timedelta(hours=3), NOW) == "in 3 h"
    assert relative(NOW - timedelta(hours=1, minutes=30), NOW) == "1.5 h ago"
    assert relative(NOW - timedelta(days=3), NOW) == "3 d ago"
    assert relative(NOW, NOW) == "just now"


async def test_items_show_times_as_people_read_them_and_link_only_to_web_pages(
    redis: Redis, default_config: TripwireConfig
):
    from shared.streams import publish

    names = StreamNames("tripwire:")
    web = make_alert(1, published=NOW - timedelta(minutes=12)).item
    script = make_alert(2, link="javascript:alert(1)", published=NOW - timedelta(hours=3)).item
    for item in (web, script):
        await publish(redis, names.items, item.to_json(), 1000)
    async with client_for(console_config(default_config), redis, clock=FakeClock(NOW)) as client:
        await logged_in(client)
        page = (await client.get("/items")).text
    assert re.search(r"<time datetime=[^>]+>12 min ago</time>", page)
    assert re.search(r"<time datetime=[^>]+>3 h ago</time>", page)
    assert 'href="https://news.example/a/1"' in page and "javascript:" not in page

"""The Alerts page groups a story's alerts: the first one, its updates under it with counts, a filter to one story."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from services.notifier.routing import delivery_id
from services.notifier.store import DeliveryStore
from shared.config import TripwireConfig
from shared.schemas import Alert, FeedRef
from shared.streams import StreamNames
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import T0, make_alert, publish_messages
from tripwire.console.story_groups import group_stories

NAMES = StreamNames("tripwire:")


def _alert(n: int, minutes: int, story: str | None = None, event: str | None = None, **fields: Any) -> Alert:
    """Alert ``n``, created ``minutes`` after T0, in ``story`` (new or update), from feed ``outlet-n``."""
    feed = FeedRef(url=f"https://outlet-{n}.example/rss", title=f"Outlet {n}")
    alert = make_alert(n, title=f"Report {n}", feed=feed)
    update: dict[str, Any] = {"created_at": T0 + timedelta(minutes=minutes), "story_id": story, "event": event}
    if story:
        update["story_title"] = "Report 1" if story == "story-a" else "Report 5"
    return alert.model_copy(update={**update, **fields})


STORY_A = [
    _alert(1, 0, "story-a", "story.new", story_sources=1),
    _alert(2, 10, "story-a", "story.update", story_sources=2),
    _alert(3, 30, "story-a", "story.update", story_sources=3),
]
SINGLE = _alert(4, 20)
STORY_B = [_alert(5, 5, "story-b", "story.new", story_sources=1)]


def test_a_story_is_its_first_alert_with_the_updates_under_it_newest_story_first() -> None:
    newest_first = sorted([*STORY_A, SINGLE, *STORY_B], key=lambda a: a.created_at, reverse=True)
    groups = group_stories(newest_first)
    assert [group.story_id for group in groups] == ["story-a", None, "story-b"]
    story = groups[0]
    assert story.lead.id == STORY_A[0].id and [a.id for a in story.updates] == [STORY_A[1].id, STORY_A[2].id]
    assert story.sources == 3 and story.title == "Report 1" and story.opened_here
    assert [group.story_id for group in group_stories(newest_first, "story-b")] == ["story-b"]


def test_the_opener_leads_even_when_stored_after_an_update() -> None:
    opener = STORY_A[0].model_copy(update={"created_at": T0 + timedelta(minutes=15)})
    story = group_stories([STORY_A[1], opener])[0]
    assert story.lead.id == opener.id and [a.id for a in story.updates] == [STORY_A[1].id]


def test_a_story_whose_opener_was_trimmed_is_led_by_its_oldest_update() -> None:
    story = group_stories(STORY_A[1:])[0]
    assert story.lead.id == STORY_A[1].id and not story.opened_here


async def test_alerts_page_groups_a_story_with_counts_and_filters_to_it(
    default_config: TripwireConfig, redis: Redis
) -> None:
    await publish_messages(redis, STORY_A[0], STORY_B[0], STORY_A[1], SINGLE, STORY_A[2])
    store = DeliveryStore(redis, NAMES, 1000)
    await redis.set(store.state_key(delivery_id(STORY_A[1].id, "analysts")), "held")
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        page = (await client.get("/alerts")).text
        articles = _articles(page)
        assert [_leads(article) for article in articles] == [["Report 1"], ["Report 4"], ["Report 5"]]
        story = articles[0]
        assert 'data-story="story-a"' in story
        assert re.search(r'class="update-count">2<.*class="source-count">3<', story, re.S)
        assert _updates(story) == ["Report 2", "Report 3"]
        assert "Outlet 2" in story and "held" in story  # each update's own delivery outcome
        assert 'href="/alerts?story=story-a"' in story
        assert "3 stories and single alerts in the latest 5 alerts" in page
        only = (await client.get("/alerts", params={"story": "story-a"})).text
        assert [_leads(article) for article in _articles(only)] == [["Report 1"]]
        assert "Only story <code>story-a</code>" in only
        nothing = (await client.get("/alerts", params={"story": "<b>nope</b>"})).text
        assert "No alerts yet." in nothing and "<b>nope</b>" not in nothing


def _articles(html: str) -> list[str]:
    return re.findall(r"<article .*?</article>", html, re.S)


def _leads(article: str) -> list[str]:
    # The title links to the article: compare its text.
    return [re.sub(r"<[^>]+>", "", title) for title in re.findall(r"<h2>(.*?)</h2>", article, re.S)]


def _updates(article: str) -> list[str]:
    entries = re.findall(r'<li class="alert-entry update">.*?</strong>: (.*?)\n', article, re.S)
    return [re.sub(r"<[^>]+>", "", entry).strip() for entry in entries]

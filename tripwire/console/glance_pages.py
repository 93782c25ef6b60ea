"""The console's charts: the overview (its home page) and a story's timeline with its places on a map."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from services.classifier.places import Gazetteer
from tripwire.console import charts, data, geo_map, silence_pages
from tripwire.console.context import Console
from tripwire.console.overview import read_overview
from tripwire.console.story_groups import group_stories
from tripwire.console.story_view import read_story

LATEST_STORIES = 8  # stories the Overview opens with
LATEST_SCAN = 500  # the newest alerts they are drawn from
_STORY_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


async def overview_page(console: Console, request: Request) -> Response:
    """Alerts per topic per hour, items per feed and language, feed health, dead letters and consumer lag."""
    overview = await read_overview(console.redis, console.config, console.names, console.clock.now())
    alerts_chart = charts.alerts_per_hour(overview.alerts, overview.first_hour, "Alerts per topic per hour, 7 days")
    items_chart = charts.horizontal_bars(overview.items, "Items per feed and language, 7 days", "chart-items")
    lag_charts = [
        charts.fill_bar(load.lag or 0, load.cap, f"{load.group} lag against the cap of {load.stream}", "chart-lag")
        for load in overview.streams
    ]
    # What happened first: the newest stories, from the newest alerts (a bounded read, like the Alerts page's).
    stories = group_stories([a for _, a in await data.recent_alerts(console.redis, console.names, LATEST_SCAN)])
    # A story muted for everyone says so (and until when) instead of a "Mute" link.
    muted = {
        m.value: s.ends_at
        for s in await silence_pages.store_of(console).active(console.clock.now())
        for m in s.matchers
        if m.field == "story" and len(s.matchers) == 1
    }
    return console.render(
        request, "overview.html", overview=overview, alerts_chart=alerts_chart, items_chart=items_chart,
        lag_charts=lag_charts, stories=stories[:LATEST_STORIES], muted=muted,
    )  # fmt: skip


async def story_page(console: Console, request: Request) -> Response:
    """One story's reports on a time axis with outlet, language and score, and the places they name on a map."""
    # The shipped places compile once per process (places.shipped_places); a topic's own are few.
    story_id = str(request.path_params.get("story_id", ""))
    story = None
    if _STORY_ID.fullmatch(story_id):
        story = await read_story(console.redis, console.names, Gazetteer(console.config.topics), story_id)
    if story is None:
        message = "No stored alert belongs to this story (the alerts stream may have trimmed it)."
        return console.render(request, "error.html", status_code=404, message=message)
    timeline = charts.story_timeline(story.points, f"Reports of the story {story.title}")
    region = geo_map.region_map(story.places, story.routes, f"Places named in the story {story.title}")
    # Silenced reports are shown, marked with the subscriptions they were kept from (never hidden).
    silenced: dict[str, list[str]] = {}
    for alert_id, subscription in await silence_pages.silenced_pairs(console):
        silenced.setdefault(alert_id, []).append(subscription)
    return console.render(request, "story.html", story=story, timeline=timeline, region=region, silenced=silenced)

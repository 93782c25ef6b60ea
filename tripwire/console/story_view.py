"""A story as its timeline page shows it: every stored alert of it, oldest first, and the places they name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from services.classifier.places import Gazetteer
from shared.schemas import Alert, Place, alert_or_none
from shared.stats import UNKNOWN_LANGUAGE
from shared.streams import DATA_FIELD, StreamNames
from tripwire.console.charts import TimelinePoint
from tripwire.console.data import SCAN_LIMIT, Entries


@dataclass(frozen=True)
class StoryView:
    """One story: its alerts oldest first (the opener first when stored), their places, and the roads among them."""

    story_id: str
    alerts: list[Alert]
    places: list[Place]
    routes: dict[str, list[tuple[float, float]]]

    @property
    def title(self) -> str:
        """The story's title as the classifier recorded it."""
        first = self.alerts[0]
        return first.story_title or first.item.title

    @property
    def topic(self) -> str:
        """The story's topic."""
        return self.alerts[0].topic

    @property
    def opened_here(self) -> bool:
        """False when the story's first report is no longer in the alerts stream."""
        return not self.alerts[0].is_story_update

    @property
    def points(self) -> list[TimelinePoint]:
        """One point per report for the timeline chart."""
        return [
            TimelinePoint(
                alert.created_at, alert.item.feed.title or alert.item.feed.url,
                alert.item.language or UNKNOWN_LANGUAGE, alert.score, alert.item.title, not alert.is_story_update,
            )
            for alert in self.alerts
        ]  # fmt: skip


async def _story_alerts(redis: Redis, names: StreamNames, story_id: str) -> list[Alert]:
    # The newest SCAN_LIMIT alerts, like the Alerts page; each entry is parsed once, only this story's are kept.
    raw = cast(Entries, await redis.xrevrange(names.alerts, count=SCAN_LIMIT))
    found: dict[str, Alert] = {}
    for _, fields in raw:
        alert = alert_or_none(fields.get(DATA_FIELD.encode()))
        if alert is not None and alert.story_id == story_id:
            found.setdefault(alert.id, alert)  # a redelivered duplicate keeps its newest copy
    return sorted(found.values(), key=lambda alert: (alert.is_story_update, alert.created_at))


async def read_story(redis: Redis, names: StreamNames, gazetteer: Gazetteer, story_id: str) -> StoryView | None:
    """The story's stored alerts and places; None when the alerts stream holds none of it any more."""
    alerts = await _story_alerts(redis, names, story_id)
    if not alerts:
        return None
    places: dict[str, Place] = {}
    for alert in alerts:
        for place in alert.places:
            places.setdefault(place.name, place)
    roads = {p.name: list(p.route) for p in gazetteer.places(alerts[0].topic) if p.route and p.name in places}
    return StoryView(story_id, alerts, list(places.values()), roads)

"""The Alerts page's grouping: a story's first alert with its updates under it (Alert.story_id, services/classifier)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.schemas import Alert


@dataclass
class StoryGroup:
    """One story (or one alert outside any story): the alert that opened it and the updates that joined it."""

    story_id: str | None
    lead: Alert
    updates: list[Alert] = field(default_factory=list)  # oldest first, as they were reported

    @property
    def alerts(self) -> list[Alert]:
        """The lead, then every update."""
        return [self.lead, *self.updates]

    @property
    def title(self) -> str:
        """The story's title (its first item's), or the lead's when the alert has none."""
        return self.lead.story_title or self.lead.item.title

    @property
    def sources(self) -> int:
        """Distinct feeds that reported the story, as the newest alert of it counted."""
        counted = [alert.story_sources for alert in self.alerts if alert.story_sources is not None]
        return max(counted, default=len({alert.item.feed.url for alert in self.alerts}))

    @property
    def opened_here(self) -> bool:
        """False when the story's first alert is no longer in the stream (the lead is then its oldest update)."""
        return self.story_id is None or not self.lead.is_story_update

    @property
    def languages(self) -> list[str]:
        """The languages the story was reported in, first seen first."""
        return list(dict.fromkeys(alert.item.language for alert in self.alerts if alert.item.language))

    @property
    def outlets(self) -> list[str]:
        """The outlets (feed titles, else URLs) that reported it, first first."""
        return list(dict.fromkeys(alert.item.feed.title or alert.item.feed.url for alert in self.alerts))

    @property
    def places(self) -> list[str]:
        """The gazetteer places its reports name, first named first."""
        return list(dict.fromkeys(place.name for alert in self.alerts for place in alert.places))

    @property
    def latest(self) -> Alert:
        """The story's newest alert."""
        return max(self.alerts, key=lambda alert: alert.created_at)


def group_stories(alerts: Sequence[Alert], story: str = "") -> list[StoryGroup]:
    """Alerts (newest first) grouped by story, stories with the newest news first; ``story`` keeps only that one."""
    groups: dict[str, StoryGroup] = {}
    order: list[str] = []
    for alert in sorted(alerts, key=lambda a: a.created_at):  # oldest first: the story's opener comes first
        if story and alert.story_id != story:
            continue
        key = alert.story_id or f"alert:{alert.id}"
        group = groups.get(key)
        if group is None:
            groups[key] = StoryGroup(alert.story_id, alert)
            order.append(key)
        elif not alert.is_story_update and group.lead.is_story_update:
            # The opener was stored after an update (replicas, redelivery): it leads all the same.
            group.updates.insert(0, group.lead)
            group.lead = alert
        else:
            group.updates.append(alert)
    return sorted((groups[key] for key in order), key=lambda group: group.latest.created_at, reverse=True)

"""Microsoft Teams: an Adaptive Card POSTed to a Workflows ("Post to a channel when a webhook request is received")
or legacy incoming-webhook URL.

Feed text is untrusted. Adaptive Card TextBlocks and FactSets render a Markdown subset (links, emphasis, lists), so
feed text never goes into one: it goes into RichTextBlock TextRuns, which Teams shows literally (no Markdown, no
``<at>`` mentions). Links are only our percent-encoded http(s) links, in ``Action.OpenUrl``/``selectAction`` url
fields, never markup. Teams refuses messages over about 28 KB (HTTP 413) and throttles a webhook beyond four
requests a second; a digest holds as many alerts as fit under MAX_BYTES and says how many it left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from services.notifier.alert_view import AlertView, alert_view, cut, health_text, source_line
from services.notifier.channel import Delivery, post, vote_urls_of
from services.notifier.outcome import DeliveryResult
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.schemas import FeedHealthEvent
from shared.votes import VoteLinks, VoteUrls

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
# Teams documents 28 KB per message; stay well below it (the envelope, UTF-8 and JSON escapes all count).
MAX_BYTES = 24_000
MAX_ITEMS = 20
RATE, BURST = 2.0, 4


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


def _open(url: str) -> dict[str, str]:
    return {"type": "Action.OpenUrl", "url": url}


def alert_container(view: AlertView, update: bool = False) -> dict[str, Any]:
    """One alert as a Container of literal text runs; the title opens the article."""
    title = _run(cut(view.title, 300), weight="Bolder", size="Medium")
    if view.link:
        title["selectAction"] = _open(view.link)
    items: list[dict[str, Any]] = [
        _rich(_run(f"{'Update · ' if update else ''}{cut(view.topic, 80)}", weight="Bolder", color="Accent")),
        _rich(title),
    ]
    if view.summary:
        items.append(_rich(_run(cut(view.summary, 1200))))
    items.append(_rich(_run(view.score_line, weight="Bolder")))
    items += [_rich(_run(cut(line, 400), isSubtle=True)) for line in view.why[:3]]
    if view.story:
        items.append(_rich(_run(cut(view.story, 300), isSubtle=True)))
    items.append(_rich(_run(cut(source_line(view), 300), isSubtle=True)))
    if view.relevant_url and view.not_relevant_url:
        items.append(_rich(
            _run("Vote: "), _run("Relevant", color="Good", selectAction=_open(view.relevant_url)),
            _run(" · "), _run("Not relevant", color="Attention", selectAction=_open(view.not_relevant_url)),
        ))  # fmt: skip
    if view.mute_url:
        items.append(_rich(_run("Mute this story", selectAction=_open(view.mute_url))))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _health_container(event: FeedHealthEvent) -> dict[str, Any]:
    heading, body = health_text(event)
    return {"type": "Container", "separator": True,
            "items": [_rich(_run(heading, weight="Bolder", color="Warning")), _rich(_run(body))]}  # fmt: skip


def _envelope(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION,
                            "msteams": {"width": "Full"}, "body": body}  # fmt: skip
    if actions:
        card["actions"] = actions
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def _bytes(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, ensure_ascii=False).encode())


def teams_payload(delivery: Delivery, votes: Mapping[str, VoteUrls] | None = None) -> dict[str, Any]:
    """The Workflows/incoming-webhook body: one card; a digest card holds whole alerts up to MAX_BYTES."""
    votes = votes or {}
    alerts = delivery.alerts
    blocks = [alert_container(alert_view(a, votes.get(a.id)), a.is_story_update) for a in alerts]
    blocks += [_health_container(m) for m in delivery.messages if isinstance(m, FeedHealthEvent)]
    single = not delivery.digest and len(delivery.messages) == 1
    actions = []
    if single and alerts and (link := alert_view(alerts[0]).link):
        actions.append({"type": "Action.OpenUrl", "title": "Open article", "url": link})
    heading = [] if single else [_rich(_run(f"Tripwire digest: {len(blocks)} messages", weight="Bolder", size="Large"))]
    body = list(heading)
    for block in blocks[:MAX_ITEMS]:
        if _bytes(_envelope([*body, block], actions)) > MAX_BYTES:
            break
        body.append(block)
    left = len(blocks) - (len(body) - len(heading))
    if left:
        body.append(_rich(_run(f"… {left} more not shown", isSubtle=True)))
    return _envelope(body, actions)


class TeamsChannel:
    """POSTs an Adaptive Card to a Teams Workflows or incoming-webhook URL (Workflows answer 202 Accepted)."""

    max_items = MAX_ITEMS
    max_chars = MAX_BYTES

    def __init__(self, http: httpx.AsyncClient, clock: Clock | None = None, votes: VoteLinks | None = None) -> None:
        self.http, self.clock, self.votes = http, clock or SystemClock(), votes

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Post one card through the one status table."""
        now = self.clock.now()
        body = json.dumps(teams_payload(delivery, vote_urls_of(delivery, self.votes, now)), ensure_ascii=False)
        headers = {"content-type": "application/json"}
        return await post(self.http, subscription, now, content=body, headers=headers, error_detail=True)

"""Discord: an execute-webhook POST with one embed per alert, pinging no one.

Feed text is untrusted. Discord renders Markdown in embed descriptions and fields (masked links ``[text](url)``,
headings, ``@everyone``, ``<@id>`` mentions), so every Markdown character in feed text is backslash-escaped, and
``allowed_mentions: {"parse": []}`` tells Discord to notify nobody even if a mention got through. Links go only in
the embed's ``url`` field (an http(s) link, percent-encoded), never into Markdown built from feed text.

Limits (Discord's embed limits): title 256, description 4096, 25 fields of name 256 / value 1024, footer 2048,
at most 10 embeds and 6000 characters over all embeds of one message; content 2000.
"""

from __future__ import annotations

import json
import re
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

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
MAX_EMBEDS = 10
TOTAL_LIMIT = 6000
ALERT_COLOR, UPDATE_COLOR, HEALTH_COLOR = 0xE67E22, 0x3498DB, 0x95A5A6
# Discord allows 5 requests per 2 seconds per webhook; stay under it so a burst of alerts is paced, not refused.
RATE, BURST = 2.0, 5
_MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<@])")


def escape_markdown(text: str) -> str:
    """Backslash-escape every character Discord Markdown gives a meaning, so feed text shows as written."""
    return _MARKDOWN.sub(r"\\\1", text)


def _md(text: str, limit: int) -> str:
    """Escaped, then cut to ``limit``; never ends on a lone escaping backslash (it would escape the ellipsis)."""
    escaped = escape_markdown(text)
    if len(escaped) <= limit:
        return escaped
    kept = escaped[: limit - 1]
    if (len(kept) - len(kept.rstrip("\\"))) % 2:
        kept = kept[:-1]
    return kept + "…"


def _alert_embed(view: AlertView, update: bool) -> dict[str, Any]:
    # Budgets that add up to less than DESCRIPTION_LIMIT, so nothing is cut mid-escape afterwards.
    lines = [_md(view.summary, 1000)] if view.summary else []
    lines.append(f"**{_md(view.score_line, 100)}**")
    lines += [_md(line, 400) for line in view.why[:3]]
    if view.story:
        lines.append(_md(view.story, 300))
    if view.relevant_url and view.not_relevant_url and len(view.relevant_url) + len(view.not_relevant_url) < 1200:
        # Vote links are ours (signed console URLs), so they may be Markdown links; they are percent-encoded anyway.
        lines.append(f"Vote: [Relevant]({view.relevant_url}) · [Not relevant]({view.not_relevant_url})")
    # Within the vote links' budget, so the budgets above still add up to less than DESCRIPTION_LIMIT.
    if view.mute_url and len(view.relevant_url or "") + len(view.not_relevant_url or "") + len(view.mute_url) < 1200:
        lines.append(f"[Mute this story]({view.mute_url})")
    embed: dict[str, Any] = {
        "title": _md(f"{'Update: ' if update else ''}{view.heading}", TITLE_LIMIT),
        "description": "\n".join(lines),
        "color": UPDATE_COLOR if update else ALERT_COLOR,
        "footer": {"text": cut(source_line(view), FOOTER_LIMIT)},
    }
    if view.link:
        embed["url"] = view.link
    return embed


def _health_embed(event: FeedHealthEvent) -> dict[str, Any]:
    heading, body = health_text(event)
    return {"title": _md(heading, TITLE_LIMIT), "description": _md(body, 2000), "color": HEALTH_COLOR}


def _size(embed: dict[str, Any]) -> int:
    """Characters that count toward Discord's 6000 per message."""
    footer = embed.get("footer", {}).get("text", "")
    return len(embed.get("title", "")) + len(embed.get("description", "")) + len(footer)


def discord_payload(delivery: Delivery, votes: Mapping[str, VoteUrls] | None = None) -> dict[str, Any]:
    """The execute-webhook JSON: up to 10 embeds within 6000 characters; what does not fit is counted in content."""
    votes = votes or {}
    embeds = [_alert_embed(alert_view(a, votes.get(a.id)), a.is_story_update) for a in delivery.alerts]
    embeds += [_health_embed(m) for m in delivery.messages if isinstance(m, FeedHealthEvent)]
    kept: list[dict[str, Any]] = []
    total = 0
    for embed in embeds:
        if len(kept) == MAX_EMBEDS or total + _size(embed) > TOTAL_LIMIT:
            break
        kept.append(embed)
        total += _size(embed)
    payload: dict[str, Any] = {"username": "Tripwire", "embeds": kept, "allowed_mentions": {"parse": []}}
    if delivery.digest or len(delivery.messages) != 1:
        more = len(embeds) - len(kept)
        payload["content"] = f"Tripwire digest: {len(embeds)} messages" + (f" ({more} more not shown)" if more else "")
    return payload


def _retry_hint(response: httpx.Response) -> float | None:
    """Discord's 429 body: ``{"retry_after": 0.5, ...}`` in seconds."""
    try:
        value = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    return max(0.0, float(value)) if isinstance(value, int | float) else None


class DiscordChannel:
    """POSTs embeds to a Discord channel webhook (204 No Content is success)."""

    max_items = MAX_EMBEDS
    max_chars = TOTAL_LIMIT

    def __init__(self, http: httpx.AsyncClient, clock: Clock | None = None, votes: VoteLinks | None = None) -> None:
        self.http, self.clock, self.votes = http, clock or SystemClock(), votes

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Post one message; 429 waits the Retry-After header or Discord's JSON retry_after."""
        now = self.clock.now()
        body = json.dumps(discord_payload(delivery, vote_urls_of(delivery, self.votes, now)), ensure_ascii=False)
        headers = {"content-type": "application/json"}
        return await post(self.http, subscription, now, content=body, headers=headers, error_detail=True,
                          retry_hint=_retry_hint)  # fmt: skip

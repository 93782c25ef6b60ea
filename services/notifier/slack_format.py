"""Slack Block Kit messages for alerts; feed text is untrusted and escaped before it reaches Slack."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from shared.schemas import Alert, FeedHealthEvent

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
_TAG = re.compile(r"<[^>]*>")


def escape(text: str) -> str:
    """Escape Slack's control characters so feed text cannot mention @channel, users or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut to ``limit`` characters with an ellipsis; never fails."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(text: str, limit: int) -> str:
    """Strip HTML, escape, and fit ``limit``."""
    return truncate(escape(_TAG.sub("", text)), limit)


def alert_message(alert: Alert) -> dict[str, Any]:
    """The incoming-webhook payload for one alert: blocks plus a fallback text."""
    item, reasons = alert.item, alert.reasons
    title = clean(item.title, 500)
    link = item.link if item.link and item.link.startswith(("http://", "https://")) else None
    headline = f"*<{escape(link).replace('|', '%7C')}|{title}>*" if link else f"*{title}*"
    why = [f"score {alert.score:.2f} ≥ {reasons.threshold:.2f}"]
    if reasons.keywords:
        why.append("keywords: " + ", ".join(escape(k) for k in reasons.keywords[:10]))
    if reasons.nearest_example:
        why.append(f"like “{clean(reasons.nearest_example, 200)}” ({reasons.example_similarity or 0:.2f})")
    source = escape(item.feed.title or item.feed.url)
    published = item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else "no date"
    blocks = [
        HeaderBlock(text=truncate(alert.topic.replace("_", " "), HEADER_LIMIT)),
        SectionBlock(text=MarkdownTextObject(text=truncate(f"{headline}\n{clean(item.summary, 2500)}", SECTION_LIMIT))),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(f"{source} · {published}", SECTION_LIMIT))]),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(" · ".join(why), SECTION_LIMIT))]),
    ]
    fallback = truncate(f"[{alert.topic}] {escape(item.title)}", SECTION_LIMIT)
    return {"text": fallback, "blocks": [block.to_dict() for block in blocks]}


def feed_health_message(event: FeedHealthEvent) -> dict[str, Any]:
    """The payload for a feed health event."""
    text = clean(f"Feed {event.status}: {event.feed.title or event.feed.url} — {event.message}", SECTION_LIMIT)
    return {"text": text, "blocks": [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]}

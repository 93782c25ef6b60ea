"""Slack Block Kit messages for alerts; feed text is untrusted and escaped before it reaches Slack.

Escaping matters for security: Slack turns ``<!channel>``, ``<@U123>`` and ``<http://x|text>`` into mentions and
links, so every ``&``, ``<`` and ``>`` from a feed is escaped after HTML is stripped and entities are decoded
(decoding first means ``&lt;!channel&gt;`` in a feed cannot turn into a live ``<!channel>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, SectionBlock
from slack_sdk.models.blocks import MarkdownTextObject as _SlackMarkdown

from shared.console_links import story_url
from shared.language import language_name
from shared.schemas import Alert, FeedHealthEvent
from shared.text import distinct
from shared.text import plain as _plain_text
from shared.votes import VoteUrls

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 2000
BLOCK_LIMIT = 50
FALLBACK_LIMIT = 3000
MAX_LINK_CHARS = 2000
# Characters kept as they are in a link; everything else (spaces, "|", "<", ">", quotes, controls, non-ASCII and with
# it bidi overrides) is percent-encoded, so a link can neither end the <url|text> markup early nor display as spoofed.
_URL_SAFE = "/?:@&=+$,;-_.!~*'()#%[]"


def MarkdownTextObject(*, text: str) -> _SlackMarkdown:
    """slack-sdk's mrkdwn object with verbatim on, so Slack does not auto-link a bare "@channel" or "#channel"."""
    return _SlackMarkdown(text=text, verbatim=True)


def escape(text: str) -> str:
    """Escape Slack's control characters so feed text cannot mention @channel, users or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut to ``limit`` characters with an ellipsis; never fails, never leaves a half escape sequence."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # do not end inside "&amp;" / "&lt;" / "&gt;"
    return cut + "…"


def plain(text: str) -> str:
    """Feed text as plain text: tags stripped, entities decoded, invisible characters dropped, whitespace collapsed."""
    return _plain_text(text)


def clean(text: str, limit: int) -> str:
    """Strip HTML, escape, and fit ``limit``."""
    return truncate(escape(plain(text)), limit)


def _link(url: str | None) -> str | None:
    if not url or not url.lower().startswith(("http://", "https://")):
        return None
    # "|" would end the URL part of <url|text>, ">" the whole link; quote() encodes both and every other unsafe
    # character, then "&" is escaped as Slack requires inside <...>.
    link = escape(quote(url, safe=_URL_SAFE, errors="replace"))
    # Measured after encoding (a non-ASCII character becomes up to 12): the headline must fit its block whole, or
    # truncation would cut the <url|text> markup open.
    return link if len(link) <= MAX_LINK_CHARS else None


def _headline(alert: Alert, limit: int) -> str:
    title = clean(alert.item.title, limit)
    link = _link(alert.item.link)
    return f"*<{link}|{title}>*" if link else f"*{title}*"


def _why(alert: Alert) -> str:
    reasons = alert.reasons
    why = [f"score {alert.score:.2f} ≥ {reasons.threshold:.2f}"]
    if reasons.meaning_only and reasons.meaning_threshold is not None:
        why.append(f"on meaning alone: semantic {reasons.semantic_score or 0:.2f} ≥ {reasons.meaning_threshold:.2f}")
    if reasons.keywords:
        why.append("keywords: " + ", ".join(clean(k, 60) for k in distinct(reasons.keywords)[:10]))
    if reasons.nearest_example:
        why.append(f"like “{clean(reasons.nearest_example, 200)}” ({reasons.example_similarity or 0:.2f})")
    if reasons.best_sentence and reasons.best_sentence_source == "article":
        # The summary shown above lacks it: say the match came from the article page the poller fetched.
        why.append(f"from the article: “{clean(reasons.best_sentence, 200)}”")
    return " · ".join(why)


def _source(alert: Alert) -> str:
    item = alert.item
    published = item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else "no date"
    # The title and summary are always the original text; the language says how to read them.
    language = f" · in {clean(language_name(item.language), 40)}" if item.language and item.language != "en" else ""
    return f"{clean(item.feed.title or item.feed.url, 200)} · {published}{language}"


def _story_link(alert: Alert, console_url: str | None) -> str:
    """ " · <url|Story timeline>" to the story's console page, or "" without a console URL or a story."""
    link = _link(story_url(console_url, alert.story_id))
    return f" · <{link}|Story timeline>" if link else ""


def _topic(topic: str) -> str:
    return plain(topic.replace("_", " "))


def _vote_text(votes: VoteUrls | None) -> str | None:
    """Two plain mrkdwn links (no Slack app needed, unlike buttons) to the console's vote landing page."""
    if votes is None:
        return None
    relevant, not_relevant = _link(votes.get("relevant")), _link(votes.get("not_relevant"))
    if relevant is None or not_relevant is None:
        return None
    mute = _link(votes.get("mute"))
    text = f"Vote: <{relevant}|Relevant> · <{not_relevant}|Not relevant>"
    return text + (f" · <{mute}|Mute this story>" if mute else "")


def _vote_blocks(votes: VoteUrls | None) -> list[Block]:
    text = _vote_text(votes)
    # Never truncated: a cut link would be a broken capability. Two signed URLs stay far under CONTEXT_LIMIT.
    return [ContextBlock(elements=[MarkdownTextObject(text=text)])] if text else []


def alert_message(alert: Alert, votes: VoteUrls | None = None, console_url: str | None = None) -> dict[str, Any]:
    """The incoming-webhook payload for one alert: blocks plus a fallback text; ``votes`` adds the vote links,
    ``console_url`` a link to the story's timeline."""
    body = f"{_headline(alert, 500)}\n{clean(alert.item.summary, 2400)}"
    blocks: list[Block] = [
        HeaderBlock(text=truncate(_topic(alert.topic), HEADER_LIMIT)),
        SectionBlock(text=MarkdownTextObject(text=truncate(body, SECTION_LIMIT))),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(_source(alert), CONTEXT_LIMIT))]),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(_why(alert), CONTEXT_LIMIT))]),
        *_story_blocks(alert, console_url),
        *_vote_blocks(votes),
    ]
    fallback = truncate(f"[{escape(_topic(alert.topic))}] {escape(plain(alert.item.title))}", FALLBACK_LIMIT)
    return {"text": fallback, "blocks": [block.to_dict() for block in blocks]}


def _story_blocks(alert: Alert, console_url: str | None) -> list[Block]:
    # A block of its own, never truncated: a cut link would point nowhere.
    link = _story_link(alert, console_url)
    return [ContextBlock(elements=[MarkdownTextObject(text=link.removeprefix(" · "))])] if link else []


def story_update_message(alert: Alert, votes: VoteUrls | None = None, console_url: str | None = None) -> dict[str, Any]:
    """A short message for an item that joined a story already sent: the story, the new source, the count."""
    story = clean(alert.story_title or alert.item.title, 300)
    sources = alert.story_sources or 1
    source = clean(alert.item.feed.title or alert.item.feed.url, 200)
    link = _link(alert.item.link)
    also = f"<{link}|{source}>" if link else source
    text = f"Also reported by {also}: *{story}* ({sources} source{'s' if sources != 1 else ''} so far)"
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=truncate(text, CONTEXT_LIMIT))]),
        *_story_blocks(alert, console_url),
        *_vote_blocks(votes),
    ]
    fallback = truncate(f"Story update: {escape(plain(alert.story_title or alert.item.title))}", FALLBACK_LIMIT)
    return {"text": fallback, "blocks": [block.to_dict() for block in blocks]}


def digest_message(
    alerts: list[Alert],
    events: list[FeedHealthEvent] | None = None,
    votes: Mapping[str, VoteUrls] | None = None,
    console_url: str | None = None,
) -> dict[str, Any]:
    """One message listing several alerts, most relevant first, within Slack's 50-block limit.

    ``votes`` (by alert id) puts each alert's vote links into its context block, so they cost no extra block;
    ``console_url`` adds each story's timeline link there too.
    """
    ranked = sorted(alerts, key=lambda alert: alert.score, reverse=True)
    events, votes = events or [], votes or {}
    topics = sorted({_topic(alert.topic) for alert in ranked})
    header = f"{len(ranked)} alert{'s' if len(ranked) != 1 else ''}: {', '.join(topics)}" if ranked else "Digest"
    blocks: list[Block] = [HeaderBlock(text=truncate(header, HEADER_LIMIT))]
    # Each alert takes two blocks (section, context); keep room for the "and N more" line.
    room = (BLOCK_LIMIT - 2 - len(events[:5])) // 2
    shown = ranked[:room]
    for alert in shown:
        text = f"{_headline(alert, 300)}\n{clean(alert.item.summary, 600)}"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_LIMIT))))
        update = f"update ({alert.story_sources or 1} sources) · " if alert.is_story_update else ""
        context = f"{update}{escape(_topic(alert.topic))} · {_source(alert)} · {_why(alert)}"
        elements = [MarkdownTextObject(text=truncate(context, CONTEXT_LIMIT))]
        vote_text = _vote_text(votes.get(alert.id))
        if vote_text:
            elements.append(MarkdownTextObject(text=vote_text))
        if story_link := _story_link(alert, console_url):
            elements.append(MarkdownTextObject(text=story_link.removeprefix(" · ")))
        blocks.append(ContextBlock(elements=elements))
    for event in events[:5]:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_health_text(event))))
    hidden = len(ranked) - len(shown) + max(0, len(events) - 5)
    if hidden:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"…and {hidden} more not shown")]))
    fallback = truncate(f"Tripwire digest: {header}", FALLBACK_LIMIT)
    return {"text": fallback, "blocks": [block.to_dict() for block in blocks]}


def _health_text(event: FeedHealthEvent) -> str:
    text = f"Feed {event.status}: {plain(event.feed.title or event.feed.url)} — {plain(event.message)}"
    return truncate(escape(text), SECTION_LIMIT)


def feed_health_message(event: FeedHealthEvent) -> dict[str, Any]:
    """The payload for a feed health event."""
    text = _health_text(event)
    blocks: list[Block] = [
        HeaderBlock(text=truncate(f"Feed {event.status}", HEADER_LIMIT)),
        SectionBlock(text=MarkdownTextObject(text=text)),
    ]
    return {"text": truncate(text, FALLBACK_LIMIT), "blocks": [block.to_dict() for block in blocks]}


__all__ = [
    "alert_message",
    "clean",
    "digest_message",
    "escape",
    "feed_health_message",
    "story_update_message",
    "truncate",
]

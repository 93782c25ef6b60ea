"""What an alert says, as plain text pieces, for the channels that format it themselves (email, Teams, Telegram,
Discord).

Everything here is PLAIN text: HTML stripped, entities decoded, invisible characters dropped (shared/text.py), but
NOT escaped. Each channel escapes these pieces for its own markup (HTML, Markdown, Telegram HTML) right where it
builds the message, so one escaping rule never leaks into another format. Links are the exception: only http(s)
links survive, percent-encoded so no quote, bracket, space or bidi control can end or spoof the link markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from shared.schemas import Alert, FeedHealthEvent
from shared.text import distinct, plain
from shared.votes import VoteUrls

MAX_LINK_CHARS = 2000
# Kept as they are in a link; everything else (spaces, quotes, <, >, [, ], controls, non-ASCII) is percent-encoded.
_URL_SAFE = "/?:@&=+$,;-_.!~*'#%"


def safe_link(url: str | None) -> str | None:
    """An http(s) link fit for any markup, or None (javascript:, data:, relative and over-long links are dropped)."""
    if not url or not url.strip().lower().startswith(("http://", "https://")):
        return None
    link = quote(url.strip(), safe=_URL_SAFE, errors="replace")
    return link if len(link) <= MAX_LINK_CHARS else None


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


@dataclass(frozen=True)
class AlertView:
    """One alert's plain-text parts, each cut to a sane length (channels cut again to their own limits)."""

    topic: str
    title: str
    summary: str
    link: str | None
    source: str
    published: str
    language: str | None
    score_line: str
    keywords: tuple[str, ...]
    why: tuple[str, ...]
    story: str | None
    relevant_url: str | None
    not_relevant_url: str | None
    mute_url: str | None = None  # the signed "mute this story" link (shared/mute_links.py)

    @property
    def heading(self) -> str:
        """``[topic] title`` (plus ``update:`` for a story update)."""
        return f"[{self.topic}] {self.title}"


def alert_view(alert: Alert, votes: VoteUrls | None = None) -> AlertView:
    """The plain-text parts of ``alert``; ``votes`` are its two vote links, if the console is configured."""
    item, reasons = alert.item, alert.reasons
    why = []
    if reasons.meaning_only and reasons.meaning_threshold is not None:  # no keyword was needed: say so first
        why.append(f"on meaning alone: semantic {reasons.semantic_score or 0:.2f} ≥ {reasons.meaning_threshold:.2f}")
    if reasons.keywords:
        why.append("keywords: " + ", ".join(cut(plain(k), 60) for k in distinct(reasons.keywords)[:10]))
    if reasons.nearest_example:
        why.append(f"like “{cut(plain(reasons.nearest_example), 200)}” ({reasons.example_similarity or 0:.2f})")
    if reasons.best_sentence:
        source = reasons.best_sentence_source
        where = f" (from the {source})" if source else ""
        why.append(f"matching sentence{where}: “{cut(plain(reasons.best_sentence), 300)}”")
    story = None
    if alert.story_id:
        sources = f", {alert.story_sources} sources" if alert.story_sources else ""
        kind = "update to story" if alert.is_story_update else "new story"
        story = f"{kind} “{cut(plain(alert.story_title or item.title), 200)}”{sources}"
    return AlertView(
        topic=cut(plain(alert.topic.replace("_", " ")), 100),
        title=cut(plain(item.title), 500) or "(no title)",
        summary=cut(plain(item.summary), 2000),
        link=safe_link(item.link),
        source=cut(plain(item.feed.title or item.feed.url), 200),
        published=item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else "no date",
        language=cut(plain(item.language), 10) if item.language else None,
        score_line=f"score {alert.score:.2f} ≥ {reasons.threshold:.2f}",
        keywords=tuple(cut(plain(k), 60) for k in distinct(reasons.keywords)[:10]),
        why=tuple(why),
        story=story,
        relevant_url=safe_link((votes or {}).get("relevant")),
        not_relevant_url=safe_link((votes or {}).get("not_relevant")),
        mute_url=safe_link((votes or {}).get("mute")),
    )


def source_line(view: AlertView) -> str:
    """``source · published · language``."""
    parts = [view.source, view.published]
    if view.language:
        parts.append(f"language: {view.language}")
    return " · ".join(parts)


def health_text(event: FeedHealthEvent) -> tuple[str, str]:
    """A feed health event's heading and body, plain text."""
    name = cut(plain(event.feed.title or event.feed.url), 200)
    return f"Feed {event.status}: {name}", cut(plain(event.message), 1000)

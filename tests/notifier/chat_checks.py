"""What each chat platform documents about the payload it accepts, as checks a test receiver applies."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

TEAMS_MAX_BYTES = 28 * 1024
TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote"}
DISCORD_LIMITS = {"title": 256, "description": 4096, "footer": 2048, "embeds": 10, "total": 6000, "content": 2000}


def check_teams(raw: bytes) -> dict[str, Any]:
    """A Workflows/incoming-webhook message with one Adaptive Card, under 28 KB; feed text only in TextRuns."""
    assert len(raw) <= TEAMS_MAX_BYTES, f"{len(raw)} bytes: Teams refuses messages over 28 KB"
    body: dict[str, Any] = json.loads(raw)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4" and card["$schema"].startswith("http")
    for element in walk(card["body"]):
        # TextBlock and FactSet render Markdown; feed text must only ever be in a TextRun, which is literal.
        assert element.get("type") not in ("TextBlock", "FactSet"), element
        if element.get("type") == "Action.OpenUrl":
            assert element["url"].startswith(("https://", "http://"))
    return card


def walk(node: Any) -> list[dict[str, Any]]:
    """Every dict inside ``node``, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def card_text(card: dict[str, Any]) -> str:
    """All the text a Teams card shows."""
    return "\n".join(e["text"] for e in walk(card) if e.get("type") == "TextRun")


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_telegram(path: str, raw: bytes, token: str, chat_id: str) -> tuple[str, list[str]]:
    """A sendMessage call in HTML parse mode: only Telegram's tags, http(s) hrefs, at most 4096 characters."""
    assert path == f"/bot{token}/sendMessage"
    body = json.loads(raw)
    assert body["chat_id"] == chat_id and body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"is_disabled": True}
    text = body["text"]
    assert 0 < len(text) <= TELEGRAM_TEXT_LIMIT
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    assert set(parser.tags) <= TELEGRAM_TAGS, parser.tags
    assert all(href.startswith(("https://", "http://")) for href in parser.hrefs)
    return "".join(parser.text), parser.hrefs


def check_discord(raw: bytes) -> dict[str, Any]:
    """An execute-webhook body within Discord's embed limits that mentions nobody."""
    body: dict[str, Any] = json.loads(raw)
    assert body["allowed_mentions"] == {"parse": []}
    assert len(body.get("content", "")) <= DISCORD_LIMITS["content"]
    embeds = body["embeds"]
    assert 0 < len(embeds) <= DISCORD_LIMITS["embeds"]
    total = 0
    for embed in embeds:
        footer = embed.get("footer", {}).get("text", "")
        assert len(embed["title"]) <= DISCORD_LIMITS["title"]
        assert len(embed.get("description", "")) <= DISCORD_LIMITS["description"]
        assert len(footer) <= DISCORD_LIMITS["footer"]
        assert embed.get("url", "https://").startswith(("https://", "http://"))
        total += len(embed["title"]) + len(embed.get("description", "")) + len(footer)
    assert total <= DISCORD_LIMITS["total"]
    return body

"""Links into the console that alerts carry (plain pages behind the console's login, unlike signed vote links)."""

from __future__ import annotations

from urllib.parse import quote

STORY_PATH = "/stories/"


def story_url(console_url: str | None, story_id: str | None) -> str | None:
    """The story's timeline page in the console, or None without a console URL or a story."""
    if not console_url or not story_id:
        return None
    return console_url.rstrip("/") + STORY_PATH + quote(story_id, safe="")

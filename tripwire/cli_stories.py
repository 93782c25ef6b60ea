"""``tripwire stories [--limit N] [--json]``: recent stories with their sources and scores, from Redis."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.classifier.stories import StorySummary
    from shared.config import Settings


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``stories`` subcommand."""
    stories = subparsers.add_parser("stories", parents=[common], help="list recent stories")
    stories.add_argument("--limit", type=int, default=20, help="how many stories, most recently updated first")
    stories.add_argument("--json", action="store_true", help="one JSON document instead of text")
    stories.set_defaults(handler=_stories)


def render_stories(stories: list[StorySummary]) -> str:
    """Each story on one line, then one indented line per item: how it joined, its source and score."""
    if not stories:
        return "no stories in the window"
    lines = []
    for story in stories:
        plural = "s" if story.sources != 1 else ""
        lines.append(f"{story.story_id}  {story.topic}  {story.sources} source{plural}  {story.title[:100]}")
        for item in story.items:
            similarity = f" sim {item.similarity:.2f}" if item.similarity is not None else ""
            lines.append(f"    {item.at[:16]}  {item.reason:<7} score {item.score:.2f}{similarity}  {item.source[:60]}")
    return "\n".join(lines)


async def _stories(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from services.classifier.stories import StoryStore
    from shared.streams import StreamNames
    from tripwire.runtime import redis_connection

    config = settings.config
    async with redis_connection(settings, allow_embedded=False, command="stories") as redis:
        stories = await StoryStore(redis, StreamNames.of(config.redis), config.stories).recent(args.limit)
    print(json.dumps({"stories": [asdict(s) for s in stories]}, indent=2) if args.json else render_stories(stories))
    return 0

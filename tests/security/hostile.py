"""Guards and checks shared by the hostile-input tests: a wall-clock tripwire, a memory peak, and item invariants."""

from __future__ import annotations

import json
import re
import signal
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from services.poller.entries import MAX_FEED_TITLE_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS
from services.poller.parse import FeedParseError, ParsedFeed, parse_feed

FETCHED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FEED_URL = "https://feeds.example/rss"
# Zero-width, bidi-override and control characters that must never survive into an item or a Slack message.
INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
MiB = 1024 * 1024


class Hang(BaseException):
    """The wall-clock guard fired. A BaseException, so the parser's catch-all cannot turn it into a FeedParseError."""


@contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Raise Hang if the block runs longer than ``seconds`` of wall time.

    Not a timed assertion: the limit is orders of magnitude above a normal run, and only catches hangs (ReDoS,
    quadratic loops) that would otherwise stall the test run forever.
    """

    def fire(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s: a hang")

    # pytest-timeout (signal method) owns SIGALRM for the whole test: take it over for the block, then give back its
    # handler and the time it had left.
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, fire)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:
            left = max(outer_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


@dataclass
class Peak:
    """Peak traced memory of a block, in bytes."""

    bytes: int = 0


@contextmanager
def memory_peak() -> Iterator[Peak]:
    """Trace Python allocations in the block and report the peak."""
    peak = Peak()
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def parse(content: bytes, headers: dict[str, str] | None = None) -> ParsedFeed | FeedParseError:
    """parse_feed, returning the documented FeedParseError instead of raising it; anything else propagates."""
    try:
        return parse_feed(content, headers or {}, FEED_URL, FETCHED_AT)
    except FeedParseError as exc:
        return exc


def check_items(parsed: ParsedFeed | FeedParseError) -> None:
    """Every item is bounded, plain, free of invisible characters, with a safe link, and serialises."""
    if isinstance(parsed, FeedParseError):
        assert str(parsed)
        return
    assert parsed.title is None or len(parsed.title) <= MAX_FEED_TITLE_CHARS
    for item in parsed.items:
        assert item.title and len(item.title) <= MAX_TITLE_CHARS and len(item.summary) <= MAX_SUMMARY_CHARS
        for text in (item.title, item.summary, item.feed.title or "", item.link or ""):
            assert not INVISIBLE.search(text), f"invisible or control character in {text[:80]!r}"
        assert item.link is None or item.link.startswith(("http://", "https://"))
        doc = json.loads(item.model_dump_json().encode("utf-8"))  # valid UTF-8 JSON, as it goes onto the stream
        assert doc["title"] == item.title

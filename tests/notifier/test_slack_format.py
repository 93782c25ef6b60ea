"""Every Slack message the notifier builds parses as Block Kit, fits Slack's limits and escapes feed text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from services.notifier.alert_view import alert_view
from services.notifier.channel import Delivery
from services.notifier.slack import slack_payload
from services.notifier.slack_format import escape, truncate
from tests.notifier.support import make_alert, make_health_event

# Slack's documented Block Kit limits (api.slack.com, "Blocks"), written here rather than imported
# from the code under test, so a change of the code's constants cannot make the check pass: at most 50 blocks in a
# message (the docs' "at most 50 blocks" promise), a header's text at most 150 characters, a section's at most 3000.
SLACK_MAX_BLOCKS = 50
SLACK_MAX_HEADER = 150
SLACK_MAX_SECTION = 3000

INJECTIONS = (
    "<!channel> <!here> <@U012AB3CD> <#C123> <https://evil.example|click me> &amp; <b>bold</b> &lt;!channel&gt;"
)


def check_message(payload: dict[str, Any]) -> list[Block]:
    """Parse with slack-sdk's models, validate each block, and check the limits."""
    assert payload["text"].strip(), "a fallback text is required"
    blocks = Block.parse_all(payload["blocks"])
    assert len(blocks) == len(payload["blocks"]) and 1 <= len(blocks) <= SLACK_MAX_BLOCKS
    for block in blocks:
        assert block is not None
        block.validate_json()  # raises on any Block Kit limit (header 150, section 3000, ...)
    for raw in payload["blocks"]:
        if raw["type"] == "header":
            assert len(raw["text"]["text"]) <= SLACK_MAX_HEADER
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= SLACK_MAX_SECTION
    return blocks


def all_text(payload: dict[str, Any]) -> str:
    """The fallback and every text in the blocks."""
    texts = [payload["text"]]
    for raw in payload["blocks"]:
        if "text" in raw:
            texts.append(raw["text"]["text"])
        texts += [element["text"] for element in raw.get("elements", [])]
    return "\n".join(texts)


def assert_no_injection(text: str) -> None:
    """No live mention, channel reference or link other than the article links we made."""
    controls = re.findall(r"<([^>]*)>", text)
    for control in controls:
        assert control.startswith("https://news.example/"), f"unexpected Slack control sequence <{control}>"
    assert "<b>" not in text and "<!channel>" not in text and "<@U" not in text


def test_alert_message_has_header_link_summary_source_and_why():
    payload = slack_payload(Delivery("d", "s", (make_alert(3),)))
    blocks = check_message(payload)
    assert [b.type for b in blocks] == ["header", "section", "context", "context"]
    text = all_text(payload)
    assert "us russia standoff" in text
    assert "<https://news.example/a/3|Convoy standoff number 3>" in text
    assert "Qamishli" in text and "Example News" in text and "2026-11-21 12:00 UTC" in text
    assert "score 0.80" in text and "keywords: convoy" in text and "A standoff near Derik" in text


def test_feed_text_cannot_inject_mentions_or_links():
    alert = make_alert(title=INJECTIONS, summary=INJECTIONS, link="https://news.example/a|<!channel>")
    for payload in (slack_payload(Delivery("d", "s", (alert,))), slack_payload(Delivery("d", "s", (alert,), True))):
        check_message(payload)
        text = all_text(payload)
        assert_no_injection(text)
        assert "&lt;!channel&gt;" in text and "&amp;" in text and "bold" in text


def test_huge_text_is_truncated_with_an_ellipsis_never_fails():
    alert = make_alert(title="T" * 5000, summary="&" * 10_000, topic="x" * 400)
    payload = slack_payload(Delivery("d", "s", (alert,)))
    check_message(payload)
    assert payload["blocks"][0]["text"]["text"].endswith("…")
    assert "…" in payload["blocks"][1]["text"]["text"]


def test_truncate_never_leaves_half_an_escape():
    assert truncate(escape("a<b") * 10, 12).endswith("…")
    assert not re.search(r"&[a-z]*…$", truncate(escape("<<<<<<<<"), 7))


def test_digest_lists_alerts_most_relevant_first_within_limits():
    alerts = tuple(make_alert(n, score=0.5 + n / 1000) for n in range(120))
    payload = slack_payload(Delivery("d", "s", alerts, digest=True))
    check_message(payload)
    text = all_text(payload)
    assert text.index("number 119>") < text.index("number 118>")
    assert "more not shown" in text
    assert payload["blocks"][0]["text"]["text"].startswith("120 alerts")


@pytest.mark.parametrize("events", range(8))
def test_a_full_digest_with_feed_health_events_stays_within_slack_limits(events: int):
    # Alerts take two blocks each, a health event one: an odd number of events is where a block limit one too high
    # first shows (50 and 51 leave room for the same 24 alerts when there is no event).
    messages = (*(make_alert(n) for n in range(120)), *(make_health_event(n) for n in range(events)))
    payload = slack_payload(Delivery("d", "s", messages, digest=True))
    check_message(payload)
    assert "more not shown" in all_text(payload)


def test_feed_health_message_parses():
    payload = slack_payload(Delivery("d", "s", (make_health_event(),)))
    check_message(payload)
    assert "Feed failing" in all_text(payload)


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=400), summary=st.text(max_size=4000), link=st.text(max_size=60))
def test_any_feed_text_makes_a_valid_escaped_message(title: str, summary: str, link: str):
    alert = make_alert(title=title or "x", summary=summary, link="https://news.example/" + link)
    for digest in (False, True):
        payload = slack_payload(Delivery("d", "s", (alert,), digest))
        check_message(payload)
        assert_no_injection(all_text(payload))


def test_story_alerts_link_to_their_timeline_when_the_console_url_is_set():
    story = {"story_id": "s1|<x>", "event": "story.new", "story_sources": 1, "story_title": "Standoff"}
    first, update = (
        make_alert(1).model_copy(update=story),
        make_alert(2).model_copy(update={**story, "event": "story.update"}),
    )
    console = "https://tripwire.example.com"
    link = "<https://tripwire.example.com/stories/s1%7C%3Cx%3E|Story timeline>"  # the id percent-encoded, never markup
    for alert in (first, update):
        payload = slack_payload(Delivery("d", "sub", (alert,), False), console_url=console)
        check_message(payload)
        assert link in all_text(payload)
        assert "Story timeline" not in all_text(slack_payload(Delivery("d", "sub", (alert,), False)))
    digest = slack_payload(Delivery("d", "sub", (first, make_alert(3)), True), console_url=console)
    check_message(digest)
    assert all_text(digest).count("Story timeline") == 1  # the alert of no story has no timeline


def test_an_alert_on_meaning_alone_says_so():
    alert = make_alert(3)
    reasons = alert.reasons.model_copy(update={"meaning_only": True, "meaning_threshold": 0.62, "semantic_score": 0.7})
    meaning = alert.model_copy(update={"reasons": reasons})
    assert "on meaning alone: semantic 0.70 ≥ 0.62" in all_text(slack_payload(Delivery("d", "s", (meaning,))))
    assert alert_view(meaning).why[0] == "on meaning alone: semantic 0.70 ≥ 0.62"
    assert "on meaning alone" not in all_text(slack_payload(Delivery("d", "s", (alert,))))

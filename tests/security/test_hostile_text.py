"""Slack control sequences, HTML, markdown and invisible characters in every text field reaching Slack and webhooks."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from slack_sdk.models.blocks import Block
from standardwebhooks import Webhook

from services.notifier.channel import Delivery
from services.notifier.slack import slack_payload
from services.notifier.webhook import WebhookChannel, webhook_body
from shared.config import SubscriptionConfig
from shared.http import make_http_client
from shared.schemas import Alert, FeedRef, Item, Reasons
from tests.helpers import LOOPBACK, rss
from tests.notifier.support import SECRET, T0, FakeClock
from tests.security.hostile import INVISIBLE, check_items, parse
from tripwire.local_http import LocalServer, Reply

HOSTILE = (
    "<!channel> <!here> <!everyone> @channel @here <@U123> <#C123> <!subteam^S1> <http://evil.example|click> "
    "&amp;lt;!channel&amp;gt; &lt;!here&gt; &#60;!channel&#62; &amp; & <script>alert(1)</script> <b>bold</b> "
    "*bold* _it_ ~s~ `code` ```block``` > quote \u200bzero\u200dwidth \u202eevil\u202c \u2066iso\u2069 \x07bell"
)
HOSTILE_LINKS = [
    "https://news.example/a?x=1&y=<!channel>|click>",
    "https://news.example/a b\u202e\u200b\n|<@U1>",
    "javascript:alert(1)",
    "http://evil.example|click",
    "https://news.example/" + "a" * 5000,
    "https://news.example/" + "\u202e" * 1500,  # short, but 13,500 characters once percent-encoded
    "https://news.example/" + "&" * 1900,  # 9,500 once escaped
]
# Our own link markup: <https://...|text> with no space, "|" or angle bracket in the URL part.
OWN_LINK = re.compile(r"<(https?://[^\s|<>]+)\|([^<>]*)>")
ENTITY_OK = re.compile(r"&(?:amp|lt|gt);")


def hostile_alert(link: str | None = HOSTILE_LINKS[0], n: int = 1) -> Alert:
    """An alert with the hostile string in every text field an analyst sees."""
    item = Item(
        id=f"item-{n}", feed=FeedRef(url="https://news.example/rss", title=HOSTILE), title=HOSTILE, summary=HOSTILE,
        link=link, published=T0, fetched_at=T0,
    )  # fmt: skip
    reasons = Reasons(
        score=0.9, threshold=0.5, keywords=[HOSTILE, "<!channel>", "*x*"], nearest_example=HOSTILE,
        example_similarity=0.8, best_sentence=HOSTILE, counter_example=HOSTILE,
    )  # fmt: skip
    return Alert(id=f"alert-{n}", item=item, topic="ports", score=0.9, reasons=reasons, created_at=T0)


def texts(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """The fallback text and every text object in the blocks, with the object (None for the fallback)."""
    found: list[tuple[str, dict[str, Any] | None]] = [(payload["text"], None)]
    for block in payload["blocks"]:
        for obj in [block.get("text"), *block.get("elements", []), *block.get("fields", [])]:
            if isinstance(obj, dict) and "text" in obj:
                found.append((obj["text"], obj))
    return found


def assert_inert(payload: dict[str, Any], links: set[str]) -> None:
    """Block Kit parses; no text carries a live control sequence, a bare "&" or an invisible character.

    The only links are our own ``<url|title>`` around an item's link, and each decodes back to exactly that link.
    """
    assert all(block is not None for block in Block.parse_all(payload["blocks"]))
    for text, obj in texts(payload):
        assert not INVISIBLE.search(text), f"invisible character in {text[:100]!r}"
        if obj is not None and obj["type"] == "mrkdwn":
            assert obj.get("verbatim") is True, "mrkdwn without verbatim: Slack would auto-link @channel or #name"
        for url, _label in OWN_LINK.findall(text):
            assert unquote(html.unescape(url)) in links, f"a link we did not make: {url}"
        rest = OWN_LINK.sub(r"\2", text)
        assert "<" not in rest and ">" not in rest, f"unescaped angle bracket in {rest[:200]!r}"
        assert "&" not in ENTITY_OK.sub("", rest), f"bare & in {rest[:200]!r}"


@pytest.mark.parametrize("link", [*HOSTILE_LINKS, None])
def test_alert_and_digest_messages_interpret_nothing(link):
    alerts = tuple(hostile_alert(link, n) for n in range(3))
    links = {link} if link else set()
    assert_inert(slack_payload(Delivery("d1", "s", alerts[:1])), links)
    assert_inert(slack_payload(Delivery("d2", "s", alerts, digest=True)), links)


def test_hostile_text_is_still_readable_after_escaping():
    payload = slack_payload(Delivery("d", "s", (hostile_alert(),)))
    section = payload["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;" in section and "&amp;lt;!channel&amp;gt;" in section  # shown literally, not dropped
    assert "zerowidth" in section and "evil" in section


def test_links_cannot_break_out_of_the_link_markup():
    for link in HOSTILE_LINKS:
        headline = slack_payload(Delivery("d", "s", (hostile_alert(link),)))["blocks"][1]["text"]["text"]
        for url, _label in OWN_LINK.findall(headline):
            assert not re.search(r"[\s|<>\"\u200b\u202e]", url)


def test_hostile_feed_to_slack_end_to_end():
    content = rss([{"title": HOSTILE, "description": HOSTILE, "link": HOSTILE_LINKS[0]}], title=HOSTILE)
    parsed = parse(content)
    check_items(parsed)
    assert not isinstance(parsed, Exception) and parsed.items
    item = parsed.items[0]
    assert "alert(1)" in item.title and "<script>" not in item.title  # tags stripped in the poller already
    alert = hostile_alert().model_copy(update={"item": item})
    assert_inert(slack_payload(Delivery("d", "s", (alert,))), {item.link} if item.link else set())


async def test_webhook_carries_hostile_text_verbatim_in_valid_signed_json():
    alert = hostile_alert()
    with LocalServer(lambda _r: Reply(204)) as server:
        subscription = SubscriptionConfig(name="s", type="webhook", url=f"{server.url}/h", secret=SECRET)  # type: ignore[arg-type]
        async with make_http_client(LOOPBACK, timeout=5, user_agent="test") as http:
            result = await WebhookChannel(http, FakeClock()).send(Delivery("msg_1", "s", (alert,)), subscription)
    assert result.ok
    request = server.requests[0]
    body = request.body.decode("utf-8")  # valid UTF-8
    Webhook(SECRET).verify(body, dict(request.headers))  # raises if the signature does not match the bytes sent
    data = json.loads(body)["data"]
    assert data == json.loads(alert.to_json())
    assert data["item"]["title"] == HOSTILE and data["reasons"]["keywords"][0] == HOSTILE  # verbatim, as data
    assert body == webhook_body(Delivery("msg_1", "s", (alert,)))


# The other channels: each escapes feed text for its own format (Teams TextRuns, Telegram HTML, Discord Markdown,
# email HTML), so the same hostile alert shows literally everywhere and only our own links are links.
def _our_links(link: str | None) -> set[str]:
    from services.notifier.alert_view import safe_link

    made = safe_link(link)
    return {made} if made else set()


@pytest.mark.parametrize("link", [*HOSTILE_LINKS, None])
def test_teams_cards_keep_feed_text_out_of_markdown(link):
    from services.notifier.teams import teams_payload
    from tests.notifier.chat_checks import card_text, check_teams, walk

    alerts = tuple(hostile_alert(link, n) for n in range(3))
    for delivery in (Delivery("d1", "s", alerts[:1]), Delivery("d2", "s", alerts, digest=True)):
        card = check_teams(json.dumps(teams_payload(delivery)).encode())
        assert not INVISIBLE.search(card_text(card))
        urls = {e["url"] for e in walk(card) if "url" in e}
        assert urls <= _our_links(link)
    text = card_text(check_teams(json.dumps(teams_payload(Delivery("d", "s", alerts[:1]))).encode()))
    assert "<!channel>" in text and "*bold*" in text and "alert(1)" in text  # literal text (tags were stripped)


@pytest.mark.parametrize("link", [*HOSTILE_LINKS, None])
def test_telegram_html_has_only_our_tags_and_links(link):
    from services.notifier.telegram import telegram_text
    from tests.notifier.chat_checks import _TelegramHtml

    alerts = tuple(hostile_alert(link, n) for n in range(3))
    for delivery in (Delivery("d1", "s", alerts[:1]), Delivery("d2", "s", alerts, digest=True)):
        parser = _TelegramHtml()
        parser.feed(telegram_text(delivery))
        parser.close()
        assert set(parser.tags) <= {"b", "i", "a"}, parser.tags  # never the feed's <script> or <b>
        assert set(parser.hrefs) <= _our_links(link)
        shown = "".join(parser.text)
        assert not INVISIBLE.search(shown)
    assert "<!channel>" in shown and "*bold*" in shown and "alert(1)" in shown  # literal text (tags were stripped)


_UNESCAPED_MD = re.compile(r"(?<!\\)[@<\[\]()*_~`|>#]")


@pytest.mark.parametrize("link", [*HOSTILE_LINKS, None])
def test_discord_embeds_escape_markdown_and_mention_nobody(link):
    from services.notifier.discord import discord_payload
    from tests.notifier.chat_checks import check_discord

    alerts = tuple(hostile_alert(link, n) for n in range(3))
    for delivery in (Delivery("d1", "s", alerts[:1]), Delivery("d2", "s", alerts, digest=True)):
        body = check_discord(json.dumps(discord_payload(delivery)).encode())
        for embed in body["embeds"]:
            assert set(filter(None, [embed.get("url")])) <= _our_links(link)
            for text in (embed["title"], embed["description"]):
                assert not INVISIBLE.search(text)
                bare = text.replace("\\\\", "")  # an escaped backslash is not an escape
                # Our own markup is **bold** around the score only; everything else from the feed is escaped.
                assert not _UNESCAPED_MD.search(bare.replace("**", "")), bare[:200]


@pytest.mark.parametrize("link", [*HOSTILE_LINKS, None])
def test_email_html_part_has_only_our_markup(link):
    from email.message import EmailMessage

    from services.notifier.mail import email_message
    from tests.notifier.chat_checks import _TelegramHtml

    alerts = tuple(hostile_alert(link, n) for n in range(3))
    for delivery in (Delivery("d1", "s", alerts[:1]), Delivery("d2", "s", alerts, digest=True)):
        message = email_message(delivery, "t@example.org", ["d@example.org"], {}, FakeClock(T0))
        assert isinstance(message, EmailMessage)
        assert "\n" not in message["Subject"] and not INVISIBLE.search(message["Subject"])
        page = message.get_body(("html",)).get_content()
        parser = _TelegramHtml()
        parser.feed(page)
        parser.close()
        assert set(parser.tags) <= {"html", "body", "h3", "a", "p", "b", "i", "ul", "li", "hr"}, set(parser.tags)
        assert set(parser.hrefs) <= _our_links(link)
        assert not INVISIBLE.search(message.get_body(("plain",)).get_content())

"""Telegram: the Bot API's sendMessage with ``parse_mode: HTML``, from a bot created with @BotFather.

Feed text is untrusted: Telegram's HTML mode turns ``<a href=...>``, ``<b>`` and friends into formatting and links, and
refuses the whole message (HTTP 400 "can't parse entities") on a stray ``<`` or ``&``. So every piece of feed text is
HTML-escaped (``&``, ``<``, ``>`` and quotes) where the message is built, and links are only our percent-encoded
http(s) links inside ``href="..."``. Link previews are off: a preview of a vote link would be a click nobody made.

The bot token is the credential and sits in the request path (``/bot<token>/sendMessage``): it is never logged and
never put in a reason; the status table sees only the HTTP status. Telegram answers a flood with HTTP 429 and
``parameters.retry_after`` in its JSON body, which is honoured like a Retry-After header.
Limit: 4096 characters of message text (we count the HTML source, which is never shorter than the text shown).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import httpx

from services.notifier.alert_view import AlertView, alert_view, cut, health_text, source_line
from services.notifier.channel import Delivery, post_url, vote_urls_of
from services.notifier.outcome import DeliveryResult
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.schemas import FeedHealthEvent
from shared.votes import VoteLinks, VoteUrls

TEXT_LIMIT = 4096
MAX_ITEMS = 10
# Telegram asks bots to stay at about one message per second in a chat (20 a minute in groups).
RATE, BURST = 1.0, 3


def _e(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, then HTML-escape (escaping after the cut never leaves half an entity)."""
    return html.escape(cut(text, limit), quote=True)


def _a(url: str, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'


def alert_html(view: AlertView, update: bool = False) -> str:
    """One alert as Telegram HTML."""
    title = _e(view.title, 300)
    # Budgets that add up to under 4096 even with long links: a single alert always fits whole.
    headline = _a(view.link, cut(view.title, 300)) if view.link and len(view.link) <= 800 else title
    lines = [f"<b>{'Update: ' if update else ''}[{_e(view.topic, 80)}]</b> {headline}"]
    if view.summary:
        lines.append(_e(view.summary, 500))
    lines.append(f"<i>{_e(view.score_line, 80)}</i>")
    lines += [_e(line, 250) for line in view.why[:3]]
    if view.story:
        lines.append(_e(view.story, 250))
    lines.append(_e(source_line(view), 250))
    if view.relevant_url and view.not_relevant_url and len(view.relevant_url + view.not_relevant_url) <= 800:
        lines.append(f"Vote: {_a(view.relevant_url, 'Relevant')} · {_a(view.not_relevant_url, 'Not relevant')}")
    if view.mute_url and len(view.mute_url) <= 800:
        lines.append(_a(view.mute_url, "Mute this story"))
    return "\n".join(lines)


def telegram_text(delivery: Delivery, votes: Mapping[str, VoteUrls] | None = None) -> str:
    """The message text: one alert or health event, or a digest of as many as fit in 4096 characters."""
    votes = votes or {}
    parts = [alert_html(alert_view(a, votes.get(a.id)), a.is_story_update) for a in delivery.alerts]
    for event in delivery.messages:
        if isinstance(event, FeedHealthEvent):
            heading, body = health_text(event)
            parts.append(f"<b>{_e(heading, 300)}</b>\n{_e(body, 1000)}")
    if not delivery.digest and len(parts) == 1:
        return parts[0] if len(parts[0]) <= TEXT_LIMIT else _fit(parts, 1)
    return _fit(parts, len(parts))


def _fit(parts: list[str], total: int) -> str:
    """Whole parts (never a cut tag) under the limit, and a count of those left out."""
    header = f"<b>Tripwire digest: {total} messages</b>" if total else ""
    text = header
    shown = 0
    for part in parts:
        candidate = f"{text}\n\n{part}" if text else part
        if len(candidate) > TEXT_LIMIT - 40:
            break
        text, shown = candidate, shown + 1
    if shown < len(parts):
        text += f"\n\n… {len(parts) - shown} more not shown"
    return text


def _retry_hint(response: httpx.Response) -> float | None:
    """Telegram's flood answer: ``{"ok": false, "error_code": 429, "parameters": {"retry_after": 5}}``."""
    try:
        value = response.json().get("parameters", {}).get("retry_after")
    except (ValueError, AttributeError):
        return None
    return max(0.0, float(value)) if isinstance(value, int | float) else None


class TelegramChannel:
    """Sends through the Bot API (``notifier.telegram_api_url``) to the subscription's chat."""

    max_items = MAX_ITEMS
    max_chars = TEXT_LIMIT

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock | None = None,
        *,
        api_url: str = "https://api.telegram.org",
        votes: VoteLinks | None = None,
    ) -> None:
        self.http, self.clock, self.api_url, self.votes = http, clock or SystemClock(), api_url.rstrip("/"), votes

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """sendMessage; the answer goes through the one status table (Telegram's HTTP status mirrors error_code)."""
        if subscription.bot_token is None or not subscription.chat_id:
            # The config refuses this; a subscription built in code might not have gone through it.
            return DeliveryResult.failure("telegram needs bot_token and chat_id", retryable=False, category="config")
        now = self.clock.now()
        payload: dict[str, Any] = {
            "chat_id": subscription.chat_id,
            "text": telegram_text(delivery, vote_urls_of(delivery, self.votes, now)),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        url = f"{self.api_url}/bot{subscription.bot_token.get_secret_value()}/sendMessage"
        body = json.dumps(payload, ensure_ascii=False)
        headers = {"content-type": "application/json"}
        return await post_url(self.http, url, now, content=body, headers=headers, error_detail=True,
                              retry_hint=_retry_hint)  # fmt: skip

"""Slack through a bot token (chat.postMessage) instead of an incoming webhook, so story updates can thread.

Incoming webhooks cannot thread or edit, so a subscription with ``bot_token`` and ``channel`` posts through the
Web API; the ``ts`` of a story's first message is kept per (subscription, story) in Redis, and the story's
updates are posted with ``thread_ts`` set to it. The token travels only in the Authorization header, never in a
log line, reason or metric label.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from services.notifier.outcome import (
    DeliveryResult,
    parse_retry_after,
    result_for_slack_api,
    result_for_transport_error,
)
from shared.capped_read import request_capped
from shared.config import SubscriptionConfig
from shared.streams import StreamNames

THREAD_TTL_SECONDS = 14 * 86400  # a story's thread outlives its clustering window
SLACK_ANSWER_BYTES = 1024 * 1024


class SlackThreads:
    """The parent message of each (subscription, story), so updates reply in its thread."""

    def __init__(self, redis: Redis, names: StreamNames) -> None:
        self.redis, self.names = redis, names

    def _key(self, subscription: str, story_id: str) -> str:
        return self.names.key("slack_thread", subscription, story_id)

    async def parent(self, subscription: str, story_id: str) -> str | None:
        """The ts of the story's first message in this subscription's channel, if it was posted."""
        raw = await self.redis.get(self._key(subscription, story_id))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def remember(self, subscription: str, story_id: str, ts: str) -> None:
        """Keep the first message's ts (NX: a retried first message does not move the thread)."""
        await self.redis.set(self._key(subscription, story_id), ts, nx=True, ex=THREAD_TTL_SECONDS)


async def post_message(
    http: httpx.AsyncClient, api_url: str, subscription: SubscriptionConfig, payload: dict[str, Any], now: datetime
) -> tuple[DeliveryResult, str | None]:
    """chat.postMessage ``payload`` into the subscription's channel; the result and the new message's ts."""
    assert subscription.bot_token is not None  # noqa: S101 - callers check; mypy needs it
    body = json.dumps({**payload, "channel": subscription.channel}, ensure_ascii=False)
    headers = {
        "authorization": f"Bearer {subscription.bot_token.get_secret_value()}",
        "content-type": "application/json; charset=utf-8",
    }
    try:
        url = f"{api_url.rstrip('/')}/chat.postMessage"
        # Capped, but well above the answer's size: chat.postMessage echoes the message (up to 40,000 characters of
        # text plus blocks), and a cut answer would read as "not ok" and send the message again.
        response = await request_capped(
            http, "POST", url, cap=SLACK_ANSWER_BYTES, content=body.encode(), headers=headers
        )
    except httpx.HTTPError as exc:
        return result_for_transport_error(exc), None
    except httpx.InvalidURL:
        return DeliveryResult.failure("invalid Slack API url", retryable=False, category="invalid_url"), None
    try:
        answer = response.json() if response.content else {}
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    ok = bool(answer.get("ok"))
    result = result_for_slack_api(response.status_code, ok, str(answer.get("error") or ""), retry_after)
    ts = answer.get("ts") if ok else None
    return result, ts if isinstance(ts, str) else None

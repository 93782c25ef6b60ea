"""Which subscriptions want which alerts-stream message; evaluated once per message."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping

from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent


def wants(subscription: SubscriptionConfig, message: Alert | FeedHealthEvent, min_score: float | None = None) -> bool:
    """True when ``subscription`` asked for ``message``; ``min_score`` (a console override) replaces its own."""
    if not subscription.enabled or not subscription.has_url:
        return False
    if isinstance(message, FeedHealthEvent):
        return subscription.feed_health and subscription.takes_feed(message.feed.labels)
    if not subscription.takes(message.topic) or not subscription.takes_feed(message.item.feed.labels):
        return False
    if message.is_story_update and subscription.updates == "none":
        return False  # the subscriber wants each story once
    bar = subscription.min_score if min_score is None else min_score
    if bar is not None and message.score < bar:
        return False
    return not subscription.keywords or matches_keywords(subscription.keywords, message)


def matches_keywords(keywords: Iterable[str], alert: Alert) -> bool:
    """Any keyword as a whole word (case-insensitive) in the title, summary or the classifier's matched keywords."""
    return text_has_keyword(keywords, " ".join([alert.item.title, alert.item.summary, *alert.reasons.keywords]))


def text_has_keyword(keywords: Iterable[str], text: str) -> bool:
    """Any keyword as a whole word (case-insensitive) in ``text``."""
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) for word in keywords)


def route(
    subscriptions: list[SubscriptionConfig],
    message: Alert | FeedHealthEvent,
    disabled: Collection[str] = (),
    min_scores: Mapping[str, float] | None = None,
) -> list[SubscriptionConfig]:
    """The subscriptions that want ``message``, minus those disabled at runtime (e.g. after HTTP 410), judged
    against the console's ``min_scores`` overrides where a subscription has one."""
    overrides = min_scores or {}
    return [sub for sub in subscriptions if sub.name not in disabled and wants(sub, message, overrides.get(sub.name))]


def delivery_id(message_id: str, subscription_name: str) -> str:
    """Stable id of one (message, subscription) delivery: the webhook-id and the idempotency key."""
    digest = hashlib.sha256(f"{message_id}\x00{subscription_name}".encode()).hexdigest()[:24]
    return f"msg_{digest}"


def digest_id(message_ids: Iterable[str], subscription_name: str) -> str:
    """Stable id of a digest delivery: the same set of messages always gets the same webhook-id."""
    joined = "\x00".join(sorted(message_ids))
    digest = hashlib.sha256(f"digest\x00{subscription_name}\x00{joined}".encode()).hexdigest()[:24]
    return f"msg_{digest}"

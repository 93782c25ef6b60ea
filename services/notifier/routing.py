"""Which subscriptions want which alerts-stream message; evaluated once per message."""

from __future__ import annotations

import hashlib

from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedHealthEvent


def wants(subscription: SubscriptionConfig, message: Alert | FeedHealthEvent) -> bool:
    """True when ``subscription`` asked for ``message``."""
    if not subscription.enabled or not subscription.has_url:
        return False
    if isinstance(message, FeedHealthEvent):
        return False  # Feed-health routing arrives with the notifier's subscription options.
    if subscription.topics and message.topic not in subscription.topics:
        return False
    return subscription.min_score is None or message.score >= subscription.min_score


def route(subscriptions: list[SubscriptionConfig], message: Alert | FeedHealthEvent) -> list[SubscriptionConfig]:
    """The subscriptions that want ``message``."""
    return [sub for sub in subscriptions if wants(sub, message)]


def delivery_id(message_id: str, subscription_name: str) -> str:
    """Stable id of one (message, subscription) delivery: the webhook-id and the idempotency key."""
    digest = hashlib.sha256(f"{message_id}\x00{subscription_name}".encode()).hexdigest()[:24]
    return f"msg_{digest}"

"""``tripwire test-alert``: one sample alert sent straight through a subscription's channel."""

from __future__ import annotations

import httpx

from services.notifier.channel import Delivery
from services.notifier.outcome import DeliveryResult
from services.notifier.routing import delivery_id
from services.notifier.service import make_channels
from shared.clock import Clock
from shared.config import SubscriptionConfig
from shared.schemas import Alert, FeedRef, Item, Reasons


def sample_alert(clock: Clock, topic: str) -> Alert:
    """A harmless alert that says it is a test."""
    now = clock.now()
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    item = Item(
        id=f"tripwire-test-{stamp}",
        feed=FeedRef(url="https://tripwire.invalid/test", title="Tripwire test"),
        title="Tripwire test alert: if you can read this, delivery works",
        summary="This is a sample alert sent by `tripwire test-alert`. No action is needed.",
        link="https://tripwire.invalid/test",
        published=now,
        fetched_at=now,
    )
    reasons = Reasons(score=1.0, threshold=0.5, keywords=["test"], nearest_example="A sample alert.")
    return Alert(id=f"test-{stamp}", item=item, topic=topic, score=1.0, reasons=reasons, created_at=now)


async def send_test_alert(subscription: SubscriptionConfig, http: httpx.AsyncClient, clock: Clock) -> DeliveryResult:
    """Send a sample alert to ``subscription`` once (no retries, nothing stored)."""
    alert = sample_alert(clock, subscription.topics[0] if subscription.topics else "test")
    delivery = Delivery(delivery_id(alert.id, subscription.name), subscription.name, (alert,))
    return await make_channels(http, clock)[subscription.type].send(delivery, subscription)

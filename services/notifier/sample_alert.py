"""``tripwire test-alert``: one sample alert sent straight through a subscription's channel."""

from __future__ import annotations

import httpx

from services.notifier.channel import Delivery
from services.notifier.mail import EmailChannel
from services.notifier.outcome import DeliveryResult
from services.notifier.remedies import with_remedy
from services.notifier.routing import delivery_id
from services.notifier.service import make_channels
from shared.clock import Clock
from shared.config import SubscriptionConfig, TripwireConfig
from shared.outbound import OutboundPolicy
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


async def send_test_alert(
    subscription: SubscriptionConfig, http: httpx.AsyncClient, clock: Clock, config: TripwireConfig | None = None
) -> DeliveryResult:
    """Send a sample alert to ``subscription`` once (no retries, nothing stored), with ``config``'s notifier and
    network settings (API URLs, timeout, networks the SMTP host may be in)."""
    alert = sample_alert(clock, subscription.topics[0] if subscription.topics else "test")
    delivery = Delivery(delivery_id(alert.id, subscription.name), subscription.name, (alert,))
    config = config or TripwireConfig()
    notifier = config.notifier
    mail = EmailChannel(OutboundPolicy(config.network.allow_private), clock, timeout=notifier.timeout)
    channels = make_channels(http, clock, slack_api_url=notifier.slack_api_url,
                             telegram_api_url=notifier.telegram_api_url, mail=mail)  # fmt: skip
    result = await channels[subscription.type].send(delivery, subscription)
    return with_remedy(result, subscription, notifier)

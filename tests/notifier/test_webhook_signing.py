"""Webhook deliveries verify with the standardwebhooks library; tampering or a wrong secret fails."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifier.channel import Delivery
from services.notifier.webhook import WebhookChannel, webhook_body
from shared.config import SubscriptionConfig
from shared.http import make_http_client
from tests.helpers import LOOPBACK
from tests.notifier.support import OTHER_SECRET, SECRET, FakeClock, make_alert, make_health_event
from tripwire.local_http import LocalServer, ReceivedRequest, Reply


async def deliver(delivery: Delivery) -> ReceivedRequest:
    """Send through the real channel to a receiver on 127.0.0.1 and return what it got."""
    with LocalServer(lambda _r: Reply(204)) as server:
        subscription = SubscriptionConfig(name="s", type="webhook", url=f"{server.url}/h", secret=SECRET)  # type: ignore[arg-type]
        async with make_http_client(LOOPBACK, timeout=5, user_agent="test") as http:
            result = await WebhookChannel(http, FakeClock()).send(delivery, subscription)
    assert result.ok
    return server.requests[0]


async def test_delivery_verifies_and_carries_the_versioned_body():
    alert = make_alert(1)
    request = await deliver(Delivery("msg_abc", "s", (alert,)))
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload == {"v": 1, "id": "msg_abc", "type": "alert", "data": json.loads(alert.to_json())}
    assert request.headers["webhook-id"] == "msg_abc"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"


async def test_tampered_body_and_wrong_secret_fail_verification():
    request = await deliver(Delivery("msg_abc", "s", (make_health_event(),)))
    tampered = request.body.replace(b"failing", b"recovered")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(request.body, request.headers)
    assert json.loads(request.body)["type"] == "feed_health"


def test_digest_body_lists_alerts_most_relevant_first():
    body = json.loads(webhook_body(Delivery("d", "s", (make_alert(1, score=0.6), make_alert(2, score=0.9)), True)))
    assert body["type"] == "digest" and body["v"] == 1
    assert [a["id"] for a in body["data"]["alerts"]] == [make_alert(2).id, make_alert(1).id]


def test_subscription_config_errors_hide_the_url():
    from shared.config import ConfigError, parse_config

    text = "subscriptions:\n  - {name: s, type: webhook, url: 'https://h/x', secret: 'plain-XSECRETX'}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "t.yaml", {})
    assert "XSECRETX" not in str(caught.value) and "whsec_" in str(caught.value)
    with pytest.raises(ConfigError, match="lease"):
        parse_config("notifier: {timeout: 30s, lease: 10s}\n", "t.yaml", {})

"""What went in and what came out, read through the containers: the feed's items, the Redis streams (redis-cli in the
Redis container) and the receiver's record of webhooks, each signature verified with standardwebhooks.

"Once" is counted as a list: a webhook-id that arrives twice is a duplicate, even though the Standard Webhooks spec
lets a receiver drop it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from standardwebhooks import Webhook

from tests.docker.e2e.stack import Peers, Stack

STREAM_PREFIX = "tripwire:"  # redis.stream_prefix in config/tripwire.yaml


def news_items(tag: str, count: int) -> list[dict[str, str]]:
    """``count`` distinct on-topic items (each one a US-Russia standoff report), links and guids unique to ``tag``."""
    places = ["Qamishli", "Derik", "Tal Tamr", "Amuda", "Rmeilan", "Hasakah", "Kobani", "Manbij"]
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return [
        {
            "title": f"US and Russian military convoys block each other near {places[i % len(places)]} ({tag} {i})",
            "description": "American and Russian armored vehicles faced off on a road in north-east Syria, "
            f"then withdrew after a standoff, report {tag}-{i}.",
            "link": f"http://feed:8080/a/{tag}-{i}",
            "guid": f"e2e-{tag}-{i}",
            "pubDate": now,
        }
        for i in range(count)
    ]


def stream_messages(stack: Stack, stream: str, service: str = "redis") -> list[dict[str, Any]]:
    """Every message of a Tripwire stream, read with redis-cli inside the Redis container."""
    out = stack.redis_cli("XRANGE", STREAM_PREFIX + stream, "-", "+", service=service)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@dataclass
class Ledger:
    """One reading of the streams and the receiver."""

    item_links: Counter[str] = field(default_factory=Counter)  # per item link, how often it is in the items stream
    alert_ids: set[str] = field(default_factory=set)  # alerts in the alerts stream
    alert_links: dict[str, str] = field(default_factory=dict)  # alert id -> its item's link
    webhook_ids: list[str] = field(default_factory=list)  # every webhook received, in order
    delivered_alerts: Counter[str] = field(default_factory=Counter)  # alert id -> webhooks that carried it
    bad_signatures: int = 0

    @property
    def duplicates(self) -> list[str]:
        """webhook-ids received more than once."""
        return [wid for wid, n in Counter(self.webhook_ids).items() if n > 1]

    def undelivered(self) -> set[str]:
        """Alerts in the stream no webhook carried yet."""
        return self.alert_ids - set(self.delivered_alerts)

    def links_without_alert(self, links: list[str]) -> list[str]:
        """Published links whose item has no delivered alert."""
        delivered = {self.alert_links.get(alert) for alert in self.delivered_alerts}
        return [link for link in links if link not in delivered]

    def settled(self, links: list[str]) -> bool:
        """Every published link is in the items stream, and every alert of the stream has been delivered."""
        return (
            all(self.item_links[link] for link in links)
            and not self.undelivered()
            and not self.links_without_alert(links)
        )


# Each webhook is verified the first time the ledger sees it (within seconds of its arrival: the ledger is read every
# few seconds while a check waits), and the outcome kept: standardwebhooks also refuses a timestamp older than five
# minutes, which every webhook becomes later in the run.
_VERIFIED: dict[tuple[str, ...], bool] = {}


def _verified(secret: str, body: str, headers: dict[str, str]) -> bool:
    key = (
        headers.get("webhook-id", ""),
        headers.get("webhook-timestamp", ""),
        headers.get("webhook-signature", ""),
        body,
    )
    if key not in _VERIFIED:
        try:
            Webhook(secret).verify(body, headers)
            _VERIFIED[key] = True
        except Exception:  # any failure to verify is counted, and the check fails on it
            _VERIFIED[key] = False
    return _VERIFIED[key]


def read(stack: Stack, peers: Peers, secret: str, redis_service: str = "redis") -> Ledger:
    """The streams and the receiver's record, now."""
    ledger = Ledger()
    for item in stream_messages(stack, "items", redis_service):
        ledger.item_links[item.get("link") or ""] += 1
    for alert in stream_messages(stack, "alerts", redis_service):
        ledger.alert_ids.add(alert["id"])
        ledger.alert_links[alert["id"]] = alert["item"].get("link") or ""
    for record in peers.received():
        headers = {name.lower(): value for name, value in record["headers"].items()}
        if not _verified(secret, record["body"], headers):
            ledger.bad_signatures += 1
            continue
        ledger.webhook_ids.append(headers["webhook-id"])
        body = json.loads(record["body"])
        if body.get("type") in ("alert", "story.update"):
            ledger.delivered_alerts[body["data"]["id"]] += 1
            ledger.alert_links.setdefault(body["data"]["id"], body["data"].get("item", {}).get("link") or "")
    return ledger

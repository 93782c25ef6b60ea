"""The notifier service: route each alert, deliver it once per subscription, ack when all are final."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx
from redis.asyncio import Redis

from services.notifier.channel import Channel
from services.notifier.outcome import DeliveryResult
from services.notifier.routing import delivery_id, route
from services.notifier.slack import SlackChannel
from services.notifier.webhook import WebhookChannel
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig, TripwireConfig
from shared.health import HealthState
from shared.logging import get_logger
from shared.schemas import Alert, FeedHealthEvent, SchemaError, parse_alerts_message
from shared.streams import DATA_FIELD, StreamConsumer, StreamEntry, StreamNames, consume, ensure_group

GROUP = "notifier"
DELIVERED_TTL_SECONDS = 14 * 86400
log = get_logger(__name__)


class Notifier:
    """Consumes the alerts stream and delivers to subscriptions."""

    def __init__(
        self,
        config: TripwireConfig,
        redis: Redis,
        http: httpx.AsyncClient,
        consumer_name: str,
        *,
        clock: Clock | None = None,
        health: HealthState | None = None,
    ) -> None:
        self.config, self.redis = config, redis
        self.clock = clock or SystemClock()
        self.health = health or HealthState()
        self.names = StreamNames(config.redis.stream_prefix)
        self.channels: dict[str, Channel] = {"slack": SlackChannel(http), "webhook": WebhookChannel(http, self.clock)}
        self.subscriptions = self._active_subscriptions(config.subscriptions)
        self.consumer = StreamConsumer(redis, self.names.alerts, GROUP, consumer_name, count=16, block_ms=1000)

    @staticmethod
    def _active_subscriptions(subscriptions: list[SubscriptionConfig]) -> list[SubscriptionConfig]:
        active = []
        for sub in subscriptions:
            if not sub.enabled:
                continue
            if not sub.has_url:
                log.warning("subscription_skipped", subscription=sub.name, reason="url is empty")
                continue
            active.append(sub)
        return active

    async def handle(self, entries: list[StreamEntry]) -> Sequence[str]:
        """Deliver every entry of a batch; returns the ids whose deliveries are all final."""
        done = []
        for entry in entries:
            if entry.data is None:
                log.warning("entry_trimmed", stream=self.names.alerts, entry_id=entry.id)
            else:
                try:
                    message = parse_alerts_message(entry.data)
                except SchemaError as exc:
                    log.error("entry_invalid", stream=self.names.alerts, entry_id=entry.id, error=str(exc))
                else:
                    await self.deliver_all(message)
            done.append(entry.id)
        self.health.beat()
        return done

    async def deliver_all(self, message: Alert | FeedHealthEvent) -> None:
        """Deliver ``message`` to every subscription that wants it, concurrently."""
        targets = route(self.subscriptions, message)
        if not targets:
            log.info("alert_unrouted", message_id=message.id)
            return
        await asyncio.gather(*(self.deliver_once(message, sub) for sub in targets))

    async def deliver_once(self, message: Alert | FeedHealthEvent, subscription: SubscriptionConfig) -> DeliveryResult:
        """Deliver unless this (message, subscription) was delivered before; record success."""
        did = delivery_id(message.id, subscription.name)
        done_key = self.names.key("delivered", did)
        if await self.redis.exists(done_key):
            return DeliveryResult.success(200)
        result = await self.channels[subscription.type].send(message, subscription, did)
        if result.ok:
            await self.redis.set(done_key, "1", ex=DELIVERED_TTL_SECONDS)
            log.info("delivered", subscription=subscription.name, delivery_id=did, message_id=message.id)
        else:
            await self._dead_letter(message, subscription, did, result)
        return result

    async def _dead_letter(
        self, message: Alert | FeedHealthEvent, subscription: SubscriptionConfig, did: str, result: DeliveryResult
    ) -> None:
        log.warning("delivery_failed", subscription=subscription.name, delivery_id=did, reason=result.reason)
        record = {
            "delivery_id": did, "subscription": subscription.name, "reason": result.reason,
            "status": result.status, "retryable": result.retryable, "message": message.model_dump(mode="json"),
        }  # fmt: skip
        await self.redis.xadd(self.names.dlq, {DATA_FIELD: json.dumps(record)}, maxlen=self.config.redis.maxlen)

    async def run(self, stop: asyncio.Event, *, drain: bool = False) -> int:
        """Consume until ``stop`` is set (or, with ``drain``, until the stream is empty)."""
        await ensure_group(self.redis, self.names.alerts, GROUP)
        return await consume(self.consumer, self.handle, stop, drain=drain)

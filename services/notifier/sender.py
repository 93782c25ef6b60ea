"""The delivery worker: sends due deliveries, settles each one (delivered, retry later, dead letter).

Deliveries run as independent tasks, so an endpoint that is down or slow delays only its own deliveries:
a failed attempt goes back to the durable schedule with its next due time and frees its slot at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping

from services.notifier.channel import AlertsMessage, Channel, Delivery
from services.notifier.outcome import DeliveryResult
from services.notifier.ratelimit import Pacer
from services.notifier.routing import delivery_id, digest_id
from services.notifier.schedule import RetryPolicy, in_quiet_hours, quiet_hours_end
from services.notifier.store import DeliveryRecord, DeliveryStore
from shared.clock import Clock
from shared.config import NotifierSettings, SubscriptionConfig
from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import DEAD_LETTERS, DELIVERIES, PROCESSING_SECONDS, RETRIES

log = get_logger(__name__)


def make_digest(subscription: str, messages: tuple[AlertsMessage, ...]) -> Delivery:
    """A digest delivery of held messages; its id depends only on which messages it holds."""
    return Delivery(digest_id([m.id for m in messages], subscription), subscription, messages, digest=True)


class DeliveryWorker:
    """Claims due deliveries from the store and sends them through their channel."""

    def __init__(
        self,
        store: DeliveryStore,
        subscriptions: Mapping[str, SubscriptionConfig],
        channels: Mapping[str, Channel],
        settings: NotifierSettings,
        clock: Clock,
        rng: random.Random,
        limiter: Pacer,
        health: HealthState | None = None,
    ) -> None:
        self.store, self.subscriptions, self.channels = store, subscriptions, channels
        self.settings, self.clock, self.rng, self.limiter = settings, clock, rng, limiter
        self.policy = RetryPolicy(settings.retry_delays, settings.retry_jitter, settings.max_retry_after)
        self.health = health or HealthState()
        self.wake = asyncio.Event()
        self._tasks: set[asyncio.Task[DeliveryResult | None]] = set()
        # Refreshed once per claimed batch rather than per delivery: one Redis round trip fewer per send.
        self._disabled: set[str] = set()

    def now(self) -> float:
        """Wall-clock seconds (epoch) from the injected clock."""
        return self.clock.now().timestamp()

    async def flush_due_digests(self) -> int:
        """Turn held messages whose time has come into digest deliveries; returns how many digests were made."""
        made = 0
        now = self.clock.now()
        for name in await self.store.held_subscriptions_due(now.timestamp()):
            sub = self.subscriptions.get(name)
            if sub is not None and sub.quiet_hours is not None and in_quiet_hours(sub.quiet_hours, now):
                await self.store.postpone_held(name, quiet_hours_end(sub.quiet_hours, now).timestamp())
                continue
            delivery = await self.store.flush_held(name, make_digest, now.timestamp())
            if delivery is not None:
                made += 1
                log.info("digest_queued", subscription=name, delivery_id=delivery.id, messages=len(delivery.messages))
        return made

    async def drain(self) -> int:
        """Send everything due now (digests included) and wait for the outcomes; returns attempts made."""
        attempts = 0
        while True:
            await self.flush_due_digests()
            records = await self.store.claim_due(self.now(), self.settings.lease, self.settings.concurrency)
            if not records:
                return attempts
            self._disabled = set(await self.store.disabled())
            await asyncio.gather(*(self.attempt(record) for record in records))
            attempts += len(records)

    async def run(self, stop: asyncio.Event) -> None:
        """Send due deliveries until ``stop``; woken early by ``wake`` (new work) or a finished delivery."""
        stopper = asyncio.create_task(self._wake_on(stop))
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    busy = await self._start_due()
                    # The worker polls Redis every poll_interval, so it is the notifier's heartbeat when idle.
                    self.health.beat()
                except Exception:
                    self.health.set_redis_ok(False)
                    # Redis unreachable, most likely: everything stays in the schedule; try again shortly.
                    log.exception("delivery_worker_failed")
                    busy = False
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=self.settings.poll_interval)
        finally:
            stopper.cancel()
            await self._shutdown()

    async def _start_due(self) -> bool:
        """Start a task per due delivery while slots are free; True when there may be more to start now."""
        await self.flush_due_digests()
        free = self.settings.concurrency - len(self._tasks)
        if free <= 0:
            return False  # woken again when a task finishes
        records = await self.store.claim_due(self.now(), self.settings.lease, free)
        if records:
            self._disabled = set(await self.store.disabled())
        for record in records:
            task = asyncio.create_task(self._attempt_logged(record))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return len(records) == free

    async def _attempt_logged(self, record: DeliveryRecord) -> DeliveryResult | None:
        try:
            return await self.attempt(record)
        except Exception:
            # Not settled: the delivery stays claimed in the schedule and is retried when its lease ends.
            log.exception("delivery_attempt_failed", subscription=record.delivery.subscription,
                          delivery_id=record.delivery.id)  # fmt: skip
            return None

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    def _finished(self, task: asyncio.Task[DeliveryResult | None]) -> None:
        self._tasks.discard(task)
        self.wake.set()

    async def _shutdown(self) -> None:
        # Give in-flight requests their timeout to finish; anything cut short stays in the schedule (its lease
        # runs out and it is sent again, with the same webhook-id).
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=self.settings.timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def attempt(self, record: DeliveryRecord) -> DeliveryResult:
        """One attempt of one claimed delivery, settled in Redis before returning."""
        delivery = record.delivery
        sub = self.subscriptions.get(delivery.subscription)
        if sub is None or not sub.enabled or not sub.has_url:
            result = DeliveryResult.failure("subscription no longer configured", retryable=False, category="removed")
            return await self._settle(record, result)
        if sub.name in self._disabled:
            result = DeliveryResult.failure("subscription disabled", retryable=False, category="disabled")
            return await self._settle(record, result)
        rate, burst = (
            (self.settings.slack_rate, self.settings.slack_burst)
            if sub.type == "slack"
            else (self.settings.webhook_rate, self.settings.webhook_burst)
        )
        waited = await self.limiter.acquire(sub.url.get_secret_value(), rate, burst)
        if waited > 0:
            await self.store.extend_lease(delivery.id, self.now() + self.settings.lease)
        result = await self.channels[sub.type].send(delivery, sub)
        return await self._settle(record, result)

    async def _settle(self, record: DeliveryRecord, result: DeliveryResult) -> DeliveryResult:
        delivery = record.delivery
        name = delivery.subscription
        attempts = delivery.attempts + (1 if result.category not in ("removed", "disabled") else 0)
        tried = DeliveryRecord(
            Delivery(delivery.id, name, delivery.messages, delivery.digest, attempts), result.reason, result.status
        )
        DELIVERIES.labels(subscription=name, outcome="ok" if result.ok else "failed", reason=result.category).inc()
        fields = {"subscription": name, "delivery_id": delivery.id, "attempts": attempts, "status": result.status}
        if result.ok:
            covered = [delivery_id(m.id, name) for m in delivery.messages] if delivery.digest else []
            await self.store.mark_delivered(delivery, covered)
            if not delivery.digest:
                age = (self.clock.now() - delivery.messages[0].created_at).total_seconds()
                PROCESSING_SECONDS.labels(stage="notifier").observe(max(0.0, age))
            log.info("delivered", messages=len(delivery.messages), **fields)
            return result
        if result.disable_subscription:
            await self.store.disable(name, result.reason, self.clock.now())
            log.warning("subscription_disabled", reason=result.reason, **fields)
        delay = self.policy.next_delay(attempts, result.retry_after, self.rng) if result.retryable else None
        if delay is not None:
            await self.store.reschedule(tried, self.now() + delay)
            RETRIES.labels(subscription=name).inc()
            log.warning("delivery_retry_scheduled", reason=result.reason, retry_in=round(delay, 1), **fields)
            return result
        entry_id = await self.store.dead_letter(tried, result.retryable, self.clock.now())
        DEAD_LETTERS.labels(source="delivery").inc()
        log.error("delivery_dead_lettered", reason=result.reason, dlq_entry=entry_id, **fields)
        return result

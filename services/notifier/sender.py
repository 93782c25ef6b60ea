"""The delivery worker: sends due deliveries, settles each one (delivered, retry later, dead letter).

Deliveries run as independent tasks, so an endpoint that is down or slow delays only its own deliveries:
a failed attempt goes back to the durable schedule with its next due time and frees its slot at once.

Exactly-once rules (see services/notifier/leases.py for the fencing):
- pacing is decided before a claim (services/notifier/pacing.py): a lease never runs out while a delivery waits
  for its rate-limit slot, so pacing alone never causes a second send;
- each request has one total deadline (connect + send + receive) of ``notifier.timeout``, enforced around the
  whole send; the lease (longer than the timeout, checked by the config) is renewed when the request starts;
- "send started" is recorded before the request. A delivery claimed with that record set was in flight when its
  lease ran out (its worker died or stalled): a webhook is sent again with the same webhook-id (the receiver
  de-duplicates); a Slack post (or any channel whose LOST_ANSWER row in outcome.py is "at-most-once") is NOT
  posted again but dead-lettered as "possibly delivered", because a second post cannot be taken back.
  ``tripwire dlq replay`` sends it if it never arrived. Nothing is lost silently, nothing is posted twice.
- the same row decides when the answer of a live attempt is lost after its request went out (a timeout, a dropped
  connection): each attempt notes how far it got (SendProgress: the whole request written, the mail accepted), so
  even a send cut by the total deadline is told apart from one that never reached the receiver.
- a late outcome of a holder whose lease ran out is discarded: it never overwrites the newer claim's.

Round trips (issue 17): a turn reads its window and claims in two script calls however many it starts; the
deliveries' "send started" marks and their outcomes go through group commits (services/notifier/batching.py), one
script call for all those submitted while the previous call was on its way. Each delivery still awaits its own
mark before its request goes out and its own settle before its slot is freed, so the rules above hold per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Mapping

from services.notifier.batching import GroupCommit
from services.notifier.channel import AlertsMessage, Channel, Delivery, recording
from services.notifier.leases import Lease, Outcome
from services.notifier.outcome import DeliveryResult, SendProgress, possibly_delivered, result_after_send
from services.notifier.pacing import plan_round
from services.notifier.ratelimit import Pacer, Sleep
from services.notifier.remedies import with_remedy
from services.notifier.routing import delivery_id, digest_id
from services.notifier.schedule import RetryPolicy, in_quiet_hours, quiet_hours_end
from services.notifier.store import DeliveryRecord, DeliveryStore
from shared.clock import Clock
from shared.config import NotifierSettings, SubscriptionConfig
from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import DEAD_LETTERS, DELIVERIES, PROCESSING_SECONDS, RETRIES, SETTLES_FENCED
from shared.stream_consume import REDIS_DOWN, answers_ping

log = get_logger(__name__)
Claimed = tuple[Lease, DeliveryRecord]
# Loop turns a settle call waits for others to join it: sends that finish together settle in one call (about 0.9
# settle calls per delivery without, 0.7 with two turns on bench/notifier's trickle; microseconds of waiting).
SETTLE_GATHER_TURNS = 2


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
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store, self.subscriptions, self.channels = store, subscriptions, channels
        self.settings, self.clock, self.rng, self.limiter = settings, clock, rng, limiter
        self.policy = RetryPolicy(settings.retry_delays, settings.retry_jitter, settings.max_retry_after)
        self.health = health or HealthState()
        self.sleep = sleep
        self.wake = asyncio.Event()
        self._tasks: set[asyncio.Task[DeliveryResult | None]] = set()
        self._in_flight: Counter[str] = Counter()  # running tasks per subscription
        # Read with each claim (the same script call), so it costs no round trip of its own.
        self._disabled: set[str] = set()
        # "Send started" marks and outcomes of concurrent deliveries go to Redis together, one script call for
        # all those submitted while the previous call was on its way (each still fenced by its own token).
        self.starts: GroupCommit[Lease, bool] = GroupCommit(self._mark_started)
        self.settles: GroupCommit[Outcome, str | None] = GroupCommit(store.settle, gather=SETTLE_GATHER_TURNS)
        # Whether the last turn left due deliveries unclaimed for want of a slot: only then does a finished
        # delivery wake the worker (else the wake would read an empty window; new alerts wake it themselves).
        self._slots_short = False

    def now(self) -> float:
        """Wall-clock seconds (epoch) from the injected clock."""
        return self.clock.now().timestamp()

    async def flush_due_digests(self, held_due: Mapping[str, float] | None = None) -> int:
        """Turn held messages whose time has come into digest deliveries (``held_due``: every held digest's due
        time, as the worker's window read it; read here when not given); returns how many digests were made."""
        made = 0
        now = self.clock.now()
        if held_due is None:
            due = await self.store.held_subscriptions_due(now.timestamp())
        else:
            due = [name for name, at in held_due.items() if at <= now.timestamp()]
        for name in due:
            sub = self.subscriptions.get(name)
            if sub is not None and sub.quiet_hours is not None and in_quiet_hours(sub.quiet_hours, now):
                await self.store.postpone_held(name, quiet_hours_end(sub.quiet_hours, now).timestamp())
                continue
            for delivery in await self.store.flush_held(name, make_digest):
                made += 1
                log.info("digest_queued", subscription=name, delivery_id=delivery.id, messages=len(delivery.messages))
        return made

    async def drain(self) -> int:
        """Send everything due now (digests included, paced ones when their slot comes) and wait for the outcomes."""
        attempts = 0
        deferred: dict[str, float] = {}  # paced during this drain -> monotonic time its slot comes
        while True:
            claimed, later = await self._claim_ready(self.settings.concurrency, capped_delay=None)
            now = self.clock.monotonic()
            deferred.update({i: now + delay for i, delay in later.items()})
            if claimed:
                for lease, _record in claimed:
                    deferred.pop(lease.delivery_id, None)
                await asyncio.gather(*(self._attempt_logged(lease, record) for lease, record in claimed))
                attempts += len(claimed)
                continue
            if not deferred:
                return attempts
            # Nothing due now but paced deliveries: wait (on the injected sleep) for the first slot.
            await self.sleep(max(0.001, min(deferred.values()) - now))
            if self.clock.monotonic() <= now:
                return attempts  # a pinned clock the sleep does not move: their slot never comes in this drain
            deferred = await self._still_scheduled(deferred)

    async def _still_scheduled(self, deferred: dict[str, float]) -> dict[str, float]:
        scores = await self.store.redis.zmscore(self.store.schedule, list(deferred))  # one round trip for all
        return {i: at for (i, at), score in zip(deferred.items(), scores, strict=True) if score is not None}

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
                except REDIS_DOWN as exc:
                    # Everything stays in the schedule; try again next poll. HealthState logs the outage once when
                    # it starts and once when it ends, not once a poll (issue 25: a traceback a second).
                    await self._redis_failed(exc)
                    busy = False
                except Exception:
                    log.exception("delivery_worker_failed")  # a bug, not an outage: worth its traceback
                    busy = False
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=self.settings.poll_interval)
        finally:
            stopper.cancel()
            await self._shutdown()

    async def _start_due(self) -> bool:
        """Start a task per due delivery while slots are free; True when there may be more to start now."""
        free = self.settings.concurrency - len(self._tasks)
        if free <= 0:
            self._slots_short = True
            return False  # woken again when a task finishes
        claimed, _later = await self._claim_ready(free, capped_delay=self.settings.poll_interval)
        for lease, record in claimed:
            task = asyncio.create_task(self._attempt_logged(lease, record))
            self._tasks.add(task)
            name = record.delivery.subscription
            self._in_flight[name] += 1
            task.add_done_callback(lambda t, name=name: self._finished(t, name))  # type: ignore[misc]
        return len(claimed) == free

    async def _claim_ready(self, free: int, *, capped_delay: float | None) -> tuple[list[Claimed], dict[str, float]]:
        """Claim the due deliveries whose subscription has a slot; move the others later. (claimed, deferred)."""
        # A window a few times the free slots: paced ones are moved out of it (deferred), so it does not clog.
        # Two round trips a turn however many it claims: the window (due ids, their subscriptions, the held
        # digests' due times), then one script that claims, defers and reads the disabled subscriptions.
        limit = max(16, 4 * free)
        window = await self.store.due_window(limit)
        if await self.flush_due_digests(window.held_due):
            window = await self.store.due_window(limit)  # the digests just made are due now
        if not window.owners:
            self._slots_short = False
            return [], {}
        # An id whose record the window could not read ('' owner) is claimed too: the claim dead-letters it, where
        # skipping it left it at the head of the schedule for ever.
        owners = dict(window.owners)
        plan = await plan_round(
            list(window.owners), owners, self.subscriptions, self._in_flight, free=free, settings=self.settings,
            pacer=self.limiter, capped_delay=capped_delay,
        )  # fmt: skip
        self._slots_short = len(plan.start) >= free or len(window.owners) >= limit
        claimed, disabled = await self.store.claim_and_defer(
            plan.start, self.settings.lease, plan.defer, now=self.clock.now()
        )
        if claimed:
            self._disabled = disabled
        return claimed, plan.defer

    async def _mark_started(self, leases: list[Lease]) -> list[bool]:
        return await self.store.leases.extend_many(leases, self.settings.lease, send_starts=True)

    async def _attempt_logged(self, lease: Lease, record: DeliveryRecord) -> DeliveryResult | None:
        try:
            return await self.attempt(lease, record)
        except REDIS_DOWN as exc:
            # Not settled: the delivery stays claimed in the schedule and is retried when its lease ends.
            await self._redis_failed(exc)
            return None
        except Exception:
            # Not settled: the delivery stays claimed in the schedule and is retried when its lease ends.
            log.exception("delivery_attempt_failed", subscription=record.delivery.subscription,
                          delivery_id=record.delivery.id)  # fmt: skip
            return None

    async def _redis_failed(self, exc: BaseException) -> None:
        """Report Redis down, unless it answers a fresh PING (a pooled connection gone stale across a restart)."""
        asked_at = time.monotonic()  # the timebase of HealthState
        if not await answers_ping(self.store.redis):
            self.health.set_redis_ok(False, f"{type(exc).__name__}: {exc}", observed_at=asked_at)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    def _finished(self, task: asyncio.Task[DeliveryResult | None], subscription: str) -> None:
        self._tasks.discard(task)
        self._in_flight[subscription] -= 1
        if self._in_flight[subscription] <= 0:
            del self._in_flight[subscription]
        # A failure may have put work due now back (a retry without delay, a split digest's halves): look again.
        delivered = not task.cancelled() and (result := task.result()) is not None and result.ok
        if self._slots_short or not delivered:
            self.wake.set()

    async def _shutdown(self) -> None:
        # Give in-flight requests their timeout to finish; anything cut short stays in the schedule (its lease
        # runs out and it is sent again, with the same webhook-id).
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=self.settings.timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.starts.idle()
        await self.settles.idle()

    async def attempt(self, lease: Lease, record: DeliveryRecord) -> DeliveryResult:
        """One attempt of one claimed delivery, settled in Redis (if the lease is still ours) before returning."""
        delivery = record.delivery
        sub = self.subscriptions.get(delivery.subscription)
        if sub is None or not sub.enabled or not sub.has_url:
            result = DeliveryResult.failure("subscription no longer configured", retryable=False, category="removed")
            return await self._settle(lease, record, result)
        if sub.name in self._disabled:
            reason = f"subscription disabled; run 'tripwire dlq enable {sub.name}' once {sub.field}.url is fixed"
            result = DeliveryResult.failure(reason, retryable=False, category="disabled")
            return await self._settle(lease, record, result)
        channel = self.channels[sub.type]
        # Only a channel whose receiver de-duplicates a repeat is sent again (webhooks: the webhook-id).
        if lease.was_in_flight and (
            final := possibly_delivered(sub.type, "the lease ran out while the request was in flight")
        ):
            return await self._settle(lease, record, final)
        if not await self.starts.submit(lease):
            log.warning("lease_lost_before_send", subscription=sub.name, delivery_id=delivery.id)
            return DeliveryResult.failure("lease lost before sending", retryable=True, category="lease_lost")
        result = await self._send(channel, delivery, sub)
        return await self._settle(lease, record, result)

    async def _send(self, channel: Channel, delivery: Delivery, sub: SubscriptionConfig) -> DeliveryResult:
        """The channel's send under ONE total deadline: httpx's timeouts are per phase, so a receiver that drips
        a byte at a time would otherwise keep a request alive far past ``timeout``. How far the send got decides
        what a failure without an answer means (outcome.py, LOST_ANSWER)."""
        progress = SendProgress()
        with recording(progress):
            try:
                async with asyncio.timeout(self.settings.timeout):
                    result = await channel.send(delivery, sub)
            except TimeoutError:
                reason = f"no answer within {self.settings.timeout:g} s (total deadline)"
                result = DeliveryResult.failure(reason, retryable=True, category="timeout")
        # The reason ends with the setting that would change it (services/notifier/remedies.py).
        return with_remedy(result_after_send(sub.type, result, progress), sub, self.settings)

    async def _settle(self, lease: Lease, record: DeliveryRecord, result: DeliveryResult) -> DeliveryResult:
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
            if await self.settles.submit(self.store.delivered(lease, covered)) is None:
                return self._fenced(result, fields)
            if not delivery.digest:
                age = (self.clock.now() - delivery.messages[0].created_at).total_seconds()
                PROCESSING_SECONDS.labels(stage="notifier").observe(max(0.0, age))
            log.info("delivered", messages=len(delivery.messages), **fields)
            return result
        if result.status == 413 and len(delivery.messages) > 1:
            return await self._split(lease, tried, result, fields)
        if result.disable_subscription:
            await self.store.disable(name, result.reason, self.clock.now())
            log.warning("subscription_disabled", reason=result.reason, **fields)
        delay = self.policy.next_delay(attempts, result.retry_after, self.rng) if result.retryable else None
        if delay is not None:
            if await self.settles.submit(self.store.retry(lease, tried, delay)) is None:
                return self._fenced(result, fields)
            RETRIES.labels(subscription=name).inc()
            log.warning("delivery_retry_scheduled", reason=result.reason, retry_in=round(delay, 1), **fields)
            return result
        entry_id = await self.settles.submit(self.store.dead(lease, tried, result.retryable, self.clock.now()))
        if entry_id is None:
            return self._fenced(result, fields)
        DEAD_LETTERS.labels(source="delivery").inc()
        log.error("delivery_dead_lettered", reason=result.reason, dlq_entry=entry_id, **fields)
        return result

    async def _split(
        self, lease: Lease, tried: DeliveryRecord, result: DeliveryResult, fields: dict[str, object]
    ) -> DeliveryResult:
        """A digest the receiver found too large (413) becomes two halves; one 413 dead-letters nothing."""
        delivery = tried.delivery
        half = len(delivery.messages) // 2
        parts = [
            make_digest(delivery.subscription, part) for part in (delivery.messages[:half], delivery.messages[half:])
        ]
        # Halves first (NX: a repeat creates nothing twice), then the parent settles; a crash in between only
        # repeats the split when the parent's lease runs out.
        async with self.store.redis.pipeline(transaction=True) as pipe:
            for part in parts:
                await self.store.queue_enqueue(pipe, part)
            await pipe.execute()
        if await self.settles.submit(self.store.split(lease)) is None:
            return self._fenced(result, fields)
        log.warning("digest_split", reason=result.reason, parts=[p.id for p in parts], **fields)
        return result

    @staticmethod
    def _fenced(result: DeliveryResult, fields: dict[str, object]) -> DeliveryResult:
        # Our lease ran out and a newer claim owns the delivery: applying this outcome could reschedule or
        # re-finalise what the newer holder already settled. Discard it, loudly.
        SETTLES_FENCED.inc()
        log.warning("late_outcome_discarded", ok=result.ok, reason=result.reason, **fields)
        return result

"""The notifier service: route each alert once, hand every delivery to the durable schedule, then ack.

An alerts-stream entry is acked only after each delivery it needs is in the delivery schedule, held for a
digest, or was already handled (see services/notifier/store.py for why that loses nothing on a crash and
creates nothing twice). Sending happens in the delivery worker (services/notifier/sender.py), so a slow or
failing endpoint never holds up reading the stream or other subscribers.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from datetime import datetime

import httpx
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from services.notifier.channel import AlertsMessage, Channel, Delivery, record_progress
from services.notifier.discord import DiscordChannel
from services.notifier.leases import pinned_time
from services.notifier.mail import EmailChannel
from services.notifier.overrides import min_scores_key
from services.notifier.ratelimit import Sleep
from services.notifier.routing import delivery_id, route
from services.notifier.schedule import hold_story_update, hold_until
from services.notifier.sender import DeliveryWorker
from services.notifier.shared_pacing import SharedRateLimiter
from services.notifier.slack import SlackChannel
from services.notifier.slack_api import SlackThreads
from services.notifier.store import DeliveryStore
from services.notifier.teams import TeamsChannel
from services.notifier.telegram import TelegramChannel
from services.notifier.webhook import WebhookChannel
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig, TripwireConfig
from shared.config_reload import ReloadWatch, watch_config
from shared.health import HealthState
from shared.logging import get_logger
from shared.metrics import SILENCED, UNROUTED
from shared.outbound import OutboundPolicy
from shared.overrides import unit_values
from shared.schemas import Alert, SchemaError, parse_alerts_message
from shared.silences import Silence, first_match, parse_silences, silenced_stream, silences_key
from shared.stream_consume import consume, ensure_group
from shared.streams import (
    DATA_FIELD,
    StreamConsumer,
    StreamEntry,
    StreamNames,
    count_invalid,
    dead_letter_invalid,
)
from shared.votes import VoteLinks

GROUP = "notifier"
ORDER_STEP = 1e-6
SLACK_API = "https://slack.com/api"
TELEGRAM_API = "https://api.telegram.org"
log = get_logger(__name__)


def make_channels(
    http: httpx.AsyncClient,
    clock: Clock,
    threads: SlackThreads | None = None,
    slack_api_url: str = SLACK_API,
    votes: VoteLinks | None = None,
    *,
    telegram_api_url: str = TELEGRAM_API,
    mail: EmailChannel | None = None,
) -> dict[str, Channel]:
    """One channel per subscription type; ``threads`` lets Slack bot subscriptions thread story updates, ``votes``
    puts vote links into every alert; ``mail`` is the SMTP channel (default: public SMTP servers only)."""
    record_progress(http)  # the worker must know whether a request went out before its answer was lost
    slack = SlackChannel(http, clock, threads=threads, api_url=slack_api_url, votes=votes)
    return {
        "slack": slack,
        "webhook": WebhookChannel(http, clock, votes),
        "email": mail or EmailChannel(OutboundPolicy(), clock, votes=votes),
        "teams": TeamsChannel(http, clock, votes),
        "telegram": TelegramChannel(http, clock, api_url=telegram_api_url, votes=votes),
        "discord": DiscordChannel(http, clock, votes),
    }


class Notifier:
    """Consumes the alerts stream, schedules deliveries, and runs the delivery worker."""

    def __init__(
        self,
        config: TripwireConfig,
        redis: Redis,
        http: httpx.AsyncClient,
        consumer_name: str,
        *,
        clock: Clock | None = None,
        health: HealthState | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config, self.redis = config, redis
        self.clock = clock or SystemClock()
        self.health = health or HealthState()
        self.names = StreamNames.of(config.redis)
        self.subscriptions = self._active_subscriptions(config.subscriptions)
        self.store = DeliveryStore(redis, self.names, config.redis.maxlen, pinned_time(self.clock))
        votes = VoteLinks.from_settings(config.console)
        mail = EmailChannel(
            OutboundPolicy(config.network.allow_private), self.clock, timeout=config.notifier.timeout, votes=votes
        )
        self.worker = DeliveryWorker(
            self.store,
            {sub.name: sub for sub in self.subscriptions},
            make_channels(
                http,
                self.clock,
                SlackThreads(redis, self.names),
                config.notifier.slack_api_url,
                votes,
                telegram_api_url=config.notifier.telegram_api_url,
                mail=mail,
            ),
            config.notifier,
            self.clock,
            rng or random.Random(),  # noqa: S311 - jitter, not security
            SharedRateLimiter(redis, self.names, self.clock),  # one pace per URL across every notifier
            self.health,
            sleep,
        )
        self.consumer = StreamConsumer(redis, self.names.alerts, GROUP, consumer_name, count=64, block_ms=1000)

    @staticmethod
    def _active_subscriptions(subscriptions: list[SubscriptionConfig]) -> list[SubscriptionConfig]:
        active = []
        for sub in subscriptions:
            if not sub.enabled:
                continue
            missing = sub.missing_target()
            if missing is not None:
                log.warning("subscription_skipped", subscription=sub.name, reason=missing)
                continue
            active.append(sub)
        return active

    async def handle(self, entries: list[StreamEntry]) -> Sequence[str]:
        """Schedule the deliveries of a batch in one transaction; returns the ids that may be acked."""
        # Read once per batch, in one round trip: the disabled subscriptions and, like the classifier's threshold
        # overrides, the min_scores saved in the console (they decide from the next alert on).
        async with self.redis.pipeline(transaction=False) as reads:
            reads.hkeys(self.store.disabled_key)
            reads.hgetall(min_scores_key(self.names))
            reads.hgetall(silences_key(self.names))
            disabled_raw, scores_raw, silences_raw = await reads.execute()
        disabled = {name.decode() if isinstance(name, bytes) else str(name) for name in disabled_raw}
        min_scores = unit_values(scores_raw)
        now = self.clock.now()
        silences = [s for s in parse_silences(silences_raw) if s.state(now) == "active"]
        done: list[str] = []
        invalid: list[str] = []
        async with self.redis.pipeline(transaction=True) as pipe:
            for position, entry in enumerate(entries):
                message = self._parse(pipe, entry, invalid)
                if message is not None:
                    # A microsecond apart per entry (and not in the future): the schedule orders equal due times by
                    # id, not by arrival.
                    offset = (position - len(entries)) * ORDER_STEP
                    await self._schedule(pipe, message, disabled, min_scores, now, offset, silences)
                done.append(entry.id)
            # One MULTI/EXEC: every delivery of the batch (and every dead letter of an entry this build cannot
            # read) becomes durable together, before any entry is acked.
            await pipe.execute()
        for reason in invalid:
            count_invalid(self.names.alerts, reason)
        self.worker.wake.set()
        self.health.beat()
        return done

    def _parse(self, pipe: Pipeline, entry: StreamEntry, invalid: list[str]) -> AlertsMessage | None:
        # Trimmed entries never get here: the consumer acks and counts them (shared/streams.py).
        try:
            return parse_alerts_message(entry.data or "")
        except SchemaError as exc:
            # Never acked unseen: a newer producer's version or a broken body goes to the dead-letter stream with
            # its raw fields, for 'tripwire dlq replay' after an upgrade.
            log.error("entry_dead_lettered", stream=self.names.alerts, entry_id=entry.id, reason=str(exc))
            dead_letter_invalid(
                pipe, self.names.dlq, self.config.redis.maxlen, self.names.alerts, GROUP, entry, str(exc)
            )
            invalid.append(str(exc))
            return None

    async def _schedule(
        self,
        pipe: Pipeline,
        message: AlertsMessage,
        disabled: set[str],
        min_scores: dict[str, float],
        now: datetime,
        delay: float = 0.0,
        silences: Sequence[Silence] = (),
    ) -> None:
        targets = route(self.subscriptions, message, disabled, min_scores)
        if not targets:
            UNROUTED.inc()
            log.info("alert_unrouted", message_id=message.id)
            return
        for sub in targets:
            silence = first_match(silences, message, sub.name, now) if isinstance(message, Alert) else None
            if silence is not None:
                # Muted, never lost: the pair is recorded (in the same transaction as the batch's deliveries) with
                # the silence that matched, so the console can show the alert as silenced and why.
                self._record_silenced(pipe, message, sub.name, silence, now)
                continue
            did = delivery_id(message.id, sub.name)
            held = _held_until(sub, message, now)
            if held is None:
                await self.store.queue_enqueue(pipe, Delivery(did, sub.name, (message,)), delay)
            else:
                await self.store.queue_hold(pipe, did, sub.name, message, held.timestamp())

    def _record_silenced(
        self, pipe: Pipeline, alert: AlertsMessage, subscription: str, silence: Silence, now: datetime
    ) -> None:
        fields = {
            "alert_id": alert.id,
            "subscription": subscription,
            "silence_id": silence.id,
            "matchers": silence.describe(),
            "at": now.isoformat(),
        }
        stream, maxlen = silenced_stream(self.names), self.config.redis.maxlen
        pipe.xadd(stream, {DATA_FIELD: json.dumps(fields)}, maxlen=maxlen, approximate=True)
        SILENCED.labels(subscription).inc()
        log.info("alert_silenced", message_id=alert.id, subscription=subscription, silence_id=silence.id)

    def apply_config(self, config: TripwireConfig) -> None:
        """Take the subscriptions of a reloaded config (shared/config_reload.py) from the next batch on.

        Deliveries already scheduled for a removed subscription are given up by the worker as it finds them;
        the other notifier settings (channels, pacing, vote links) keep their start-up values until a restart.
        """
        before = {sub.name for sub in self.subscriptions}
        self.config = config
        self.subscriptions = self._active_subscriptions(config.subscriptions)
        self.worker.subscriptions = {sub.name: sub for sub in self.subscriptions}
        after = {sub.name for sub in self.subscriptions}
        log.info("subscriptions_reloaded", added=sorted(after - before), removed=sorted(before - after),
                 active=len(after))  # fmt: skip

    async def run(self, stop: asyncio.Event, *, drain: bool = False, reload: ReloadWatch | None = None) -> int:
        """Consume and deliver until ``stop``; with ``drain``: read the stream dry, send what is due, return.
        ``reload`` applies the subscriptions of a reloaded config file (SIGHUP, console) while it runs."""
        await ensure_group(self.redis, self.names.alerts, GROUP)
        for name, info in (await self.store.disabled()).items():
            log.warning("subscription_disabled", subscription=name, reason=info.get("reason"), since=info.get("at"))
        if drain:
            count = await consume(self.consumer, self.handle, stop, drain=True)
            await self.worker.drain()
            return count
        worker = asyncio.create_task(self.worker.run(stop))
        reloads = asyncio.create_task(watch_config(reload, self.apply_config, stop)) if reload else None
        try:
            return await consume(self.consumer, self.handle, stop)
        finally:
            stop.set()
            await worker
            if reloads is not None:
                await reloads


def _held_until(sub: SubscriptionConfig, message: AlertsMessage, now: datetime) -> datetime | None:
    """When a delivery may be sent (quiet hours, digests, story updates), or None for now."""
    if message.type != "alert":
        return None
    return hold_story_update(sub, now) if message.is_story_update else hold_until(sub, now)

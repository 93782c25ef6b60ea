"""Which due deliveries may start now: pacing is decided BEFORE a delivery is claimed, never inside its lease.

A delivery whose subscription has no rate-limit slot free is not claimed: it is moved later in the schedule
(in order, one slot apart), so the lease of a claimed delivery covers only its own request and a paced
subscription never holds a concurrency slot while it waits. A subscription may use at most
``per_subscription`` of the worker's slots, so one slow endpoint cannot hold them all (no head-of-line
blocking across subscriptions).

One bucket per destination, not per subscription: two subscriptions posting to the same webhook or Telegram chat
share its limit. Slack and webhooks take their pace from the notifier settings; the other platforms from the limits
they document (each channel module's RATE and BURST).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.notifier import discord, mail, teams, telegram
from services.notifier.ratelimit import Pacer
from shared.config import NotifierSettings, SubscriptionConfig

_PLATFORM_PACE = {
    "discord": (discord.RATE, discord.BURST),
    "email": (mail.RATE, mail.BURST),
    "teams": (teams.RATE, teams.BURST),
    "telegram": (telegram.RATE, telegram.BURST),
}

# Deliveries held back by the per-subscription cap move this much later per place in line, keeping their order.
ORDER_STEP = 0.001


@dataclass
class Plan:
    """Ids to claim now, and ids to move later by some seconds (their slot is not free yet)."""

    start: list[str] = field(default_factory=list)
    defer: dict[str, float] = field(default_factory=dict)


def destination(subscription: SubscriptionConfig) -> str:
    """The secret-bearing identity of where a subscription sends (hashed by the rate limiter, never logged)."""
    if subscription.type == "telegram" and subscription.bot_token is not None:
        return f"telegram\x00{subscription.bot_token.get_secret_value()}\x00{subscription.chat_id}"
    return subscription.url.get_secret_value()


def pace(subscription: SubscriptionConfig, settings: NotifierSettings) -> tuple[str, float | None, int]:
    """(destination, rate per second or None for unpaced, burst) of one subscription."""
    if subscription.type == "slack":
        return destination(subscription), settings.slack_rate, settings.slack_burst
    rate, burst = _PLATFORM_PACE.get(subscription.type, (settings.webhook_rate, settings.webhook_burst))
    return destination(subscription), rate, burst


async def plan_round(
    ids: list[str],
    owners: Mapping[str, str],
    subscriptions: Mapping[str, SubscriptionConfig],
    in_flight: Counter[str],
    *,
    free: int,
    settings: NotifierSettings,
    pacer: Pacer,
    capped_delay: float | None,
) -> Plan:
    """Walk the due ids oldest first; start what has a slot, defer the rest (``capped_delay`` None: leave them)."""
    plan = Plan()
    per_subscription = max(1, settings.concurrency // 2)
    starting: Counter[str] = Counter()
    waiting: dict[str, tuple[float, float, int]] = {}  # subscription -> (first wait, seconds per slot, queued)
    capped: Counter[str] = Counter()
    for delivery_id in ids:
        name = owners.get(delivery_id)
        if name is None:
            continue
        sub = subscriptions.get(name)
        if name in waiting:
            first, step, queued = waiting[name]
            plan.defer[delivery_id] = first + queued * step
            waiting[name] = (first, step, queued + 1)
            continue
        if len(plan.start) >= free:
            break
        if sub is not None and in_flight[name] + starting[name] >= per_subscription:
            if capped_delay is not None:
                plan.defer[delivery_id] = capped_delay + capped[name] * ORDER_STEP
                capped[name] += 1
            continue
        if sub is not None and sub.has_url:
            where, rate, burst = pace(sub, settings)
            wait = await pacer.try_acquire(where, rate, burst)
            if wait > 0:
                waiting[name] = (wait, 1 / rate if rate else 0.0, 1)
                plan.defer[delivery_id] = wait
                continue
        # Unknown or disabled subscriptions start too: the worker settles them at once, without sending.
        plan.start.append(delivery_id)
        starting[name] += 1
    return plan

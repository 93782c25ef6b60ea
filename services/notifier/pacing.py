"""Which due deliveries may start now: pacing is decided BEFORE a delivery is claimed, never inside its lease.

A delivery whose subscription has no rate-limit slot free is not claimed: it is moved later in the schedule
(in order, one slot apart), so the lease of a claimed delivery covers only its own request and a paced
subscription never holds a concurrency slot while it waits. A subscription may use at most
``per_subscription`` of the worker's slots, so one slow endpoint cannot hold them all (no head-of-line
blocking across subscriptions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.notifier.ratelimit import Pacer
from shared.config import NotifierSettings, SubscriptionConfig

# Deliveries held back by the per-subscription cap move this much later per place in line, keeping their order.
ORDER_STEP = 0.001


@dataclass
class Plan:
    """Ids to claim now, and ids to move later by some seconds (their slot is not free yet)."""

    start: list[str] = field(default_factory=list)
    defer: dict[str, float] = field(default_factory=dict)


def pace_of(sub: SubscriptionConfig, settings: NotifierSettings) -> tuple[float | None, int]:
    """(rate per second or None, burst) of a subscription's channel."""
    if sub.type == "slack":
        return settings.slack_rate, settings.slack_burst
    return settings.webhook_rate, settings.webhook_burst


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
            rate, burst = pace_of(sub, settings)
            wait = await pacer.try_acquire(sub.url.get_secret_value(), rate, burst)
            if wait > 0:
                waiting[name] = (wait, 1 / rate if rate else 0.0, 1)
                plan.defer[delivery_id] = wait
                continue
        # Unknown or disabled subscriptions start too: the worker settles them at once, without sending.
        plan.start.append(delivery_id)
        starting[name] += 1
    return plan

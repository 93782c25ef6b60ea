"""How fast each subscription's destination may be sent to: (destination key, messages per second, burst).

One bucket per destination, not per subscription: two subscriptions posting to the same webhook or Telegram chat
share its limit. Slack and webhooks take their pace from the notifier settings; the other platforms from the limits
they document (each channel module's RATE and BURST).
"""

from __future__ import annotations

from services.notifier import discord, mail, teams, telegram
from shared.config import NotifierSettings, SubscriptionConfig

_PLATFORM_PACE = {
    "discord": (discord.RATE, discord.BURST),
    "email": (mail.RATE, mail.BURST),
    "teams": (teams.RATE, teams.BURST),
    "telegram": (telegram.RATE, telegram.BURST),
}


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

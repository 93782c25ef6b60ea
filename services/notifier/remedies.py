"""What to change when a delivery fails: one table from a failure's category to the setting that would change it.

A reason such as "no answer: OutboundRefused" leaves an operator guessing; every failure reason that reaches a dead
letter, a log line or ``tripwire test-alert`` ends with the config field, variable or command to use
("...; fix subscriptions[2].url", "...; raise notifier.timeout"). The text names fields, never their values: a
webhook URL is a credential.
"""

from __future__ import annotations

from dataclasses import replace

from services.notifier.outcome import DeliveryResult
from shared.config import NotifierSettings, SubscriptionConfig

# ``{sub}`` is the subscription's config path (subscriptions[2]), ``{name}`` its name.
_BY_CATEGORY = {
    "refused": "fix {sub}.url (only http(s) hosts on public addresses, or networks in network.allow_private)",
    "invalid_url": "fix {sub}.url",
    "timeout": "retried after notifier.retry_delays; raise notifier.timeout ({timeout:g} s) for a slow receiver",
    "connection": "retried after notifier.retry_delays; check that the host of {sub}.url is up and reachable",
    "tls": "the server's certificate must be valid for the host in {sub}.url",
    "config": "set {sub}.bot_token and {sub}.chat_id",
    "smtp_unsupported": "use smtps:// in {sub}.url, or set {sub}.require_tls: false (a relay without AUTH, or on a "
    "loopback address)",
    "smtp_530": "check the user and password in {sub}.url",
    "smtp_534": "check the user and password in {sub}.url",
    "smtp_535": "check the user and password in {sub}.url",
    "disabled": "run 'tripwire dlq enable {name}' once {sub}.url is fixed",
    "removed": "add the subscription back to subscriptions, or drop the dead letter ('tripwire dlq drop ID')",
    "http_401": "check {sub}.url and {sub}.secret (or bot_token)",
    "http_403": "check {sub}.url and {sub}.secret (or bot_token)",
    "http_404": "fix {sub}.url",
    "http_410": "the subscription is disabled: fix {sub}.url, then run 'tripwire dlq enable {name}'",
    "http_413": "lower the digest size with {sub}.mode or digest_interval",
    "slack_invalid_auth": "check {sub}.bot_token",
    "slack_not_authed": "check {sub}.bot_token",
    "slack_channel_not_found": "check {sub}.channel",
    "slack_not_in_channel": "invite the Slack app into {sub}.channel",
}


def remedy_for(result: DeliveryResult, sub: SubscriptionConfig, settings: NotifierSettings) -> str | None:
    """The setting, variable or command that would change this failure (None for a success)."""
    if result.ok:
        return None
    category = result.category
    template = _BY_CATEGORY.get(category)
    if template is None:
        if 300 <= (result.status or 0) < 400 and category.startswith("http_"):
            template = "set {sub}.url to the receiver's current address (redirects are never followed)"
        elif result.retryable:
            template = "retried after notifier.retry_delays; the receiver at {sub}.url answers with an error"
        else:
            template = "check {sub}.url and the receiver's settings"
    return template.format(sub=sub.field, name=sub.name, timeout=settings.timeout)


def with_remedy(result: DeliveryResult, sub: SubscriptionConfig, settings: NotifierSettings) -> DeliveryResult:
    """``result`` with its remedy appended to the reason, unless the reason already names one (a refusal that says
    which network.allow_private entry would allow it)."""
    remedy = remedy_for(result, sub, settings)
    if remedy is None or "network.allow_private" in result.reason:
        return result
    return replace(result, reason=f"{result.reason}; {remedy}")

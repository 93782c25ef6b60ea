"""Silences in the console: the list (active, pending, expired), the form that sets one, the expire button, the
signed "mute this story" links' landing page, and the silenced marks on the alert and story pages.

A silence set here is the same record as ``tripwire silence add`` writes (shared/silences.py): the notifiers read
it at their next batch. Silenced alerts are never hidden: their deliveries show as "silenced" with the silence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shared.config import parse_duration
from shared.mute_links import MuteLinkError, verify_mute
from shared.silences import (
    MATCHER_FIELDS,
    Matcher,
    SilenceError,
    SilenceStore,
    check_known,
    new_silence,
    parse_matchers,
)
from tripwire.console.context import Console
from tripwire.console.data import DeliveryView
from tripwire.console.previewers import is_link_previewer

DURATIONS = ("1h", "4h", "24h", "3d", "7d")  # the form's suggestions; any duration such as 90m or 2d is accepted
CONSOLE_AUTHOR = "console"  # who set a silence from the console: it has one password, not named users
LINK_AUTHOR = "link"  # who set a silence from a signed mute link
LINK_REASON = "muted from the alert's link"


def store_of(console: Console) -> SilenceStore:
    """The silences of this deployment's Redis."""
    return SilenceStore(console.redis, console.names)


async def silenced_pairs(console: Console) -> dict[tuple[str, str], dict[str, str]]:
    """The notifier's records of silenced (alert id, subscription) pairs, newest first, keyed by the pair."""
    pairs: dict[tuple[str, str], dict[str, str]] = {}
    for record in await store_of(console).silenced_alerts(count=2000):
        pairs.setdefault((record.get("alert_id", ""), record.get("subscription", "")), record)
    return pairs


def mark_silenced(
    deliveries: Mapping[str, Sequence[DeliveryView]], pairs: Mapping[tuple[str, str], dict[str, str]]
) -> dict[str, list[DeliveryView]]:
    """Each delivery the notifier silenced shown as "silenced" with the silence's matchers (never left out)."""
    marked: dict[str, list[DeliveryView]] = {}
    for alert_id, views in deliveries.items():
        marked[alert_id] = []
        for view in views:
            record = pairs.get((alert_id, view.subscription))
            if record is not None and view.state == "not routed":
                why = f"silence {record.get('silence_id', '?')}: {record.get('matchers', '')}"
                view = DeliveryView(view.subscription, "silenced", 0, why)
            marked[alert_id].append(view)
    return marked


async def silences_page(console: Console, request: Request) -> Response:
    """Active and pending silences, then expired ones, and the form; ``?story=`` (or another matcher field)
    fills the form in, as the "Mute this story" buttons do."""
    return await _render(console, request, error="", status_code=200)


async def _render(console: Console, request: Request, *, error: str, status_code: int, **form: str) -> Response:
    now = console.clock.now()
    silences = await store_of(console).all(now)
    live = [s for s in silences if s.state(now) != "expired"]
    expired = sorted((s for s in silences if s.state(now) == "expired"), key=lambda s: s.ends_at, reverse=True)
    params = request.query_params
    prefill = form.get("matchers") or "\n".join(f"{f}={params[f]}" for f in MATCHER_FIELDS if params.get(f))
    return console.render(
        request, "silences.html", status_code=status_code, live=live, expired=expired, error=error,
        notice=params.get("notice", ""), fields=MATCHER_FIELDS, durations=DURATIONS, prefill=prefill,
        duration=form.get("duration", "24h"), reason=form.get("reason", ""),
        silenced=[_with_time(r) for r in await store_of(console).silenced_alerts(count=20)],
    )  # fmt: skip


def _with_time(record: dict[str, str]) -> dict[str, Any]:
    try:
        return {**record, "at_time": datetime.fromisoformat(record.get("at", ""))}
    except ValueError:
        return {**record, "at_time": None}  # a record this build cannot read: its text as it is


async def silence_add(console: Console, request: Request) -> Response:
    """Set a silence from the form: matchers one per line (FIELD=VALUE), a duration such as 2h or 3d, a reason."""
    form = await request.form()
    text, duration, reason = (str(form.get(k) or "") for k in ("matchers", "duration", "reason"))
    try:
        matchers = parse_matchers(line.strip() for line in text.splitlines() if line.strip())
        check_known(matchers, console.config.topics, [sub.name for sub in console.config.subscriptions])
        silence = new_silence(matchers, parse_duration(duration.strip()), reason, CONSOLE_AUTHOR, console.clock.now())
    except (SilenceError, ValueError) as exc:
        return await _render(
            console, request, error=f"Silence not set: {exc}.", status_code=400,
            matchers=text, duration=duration, reason=reason,
        )  # fmt: skip
    await store_of(console).add(silence)
    notice = f"Silence {silence.id} set: {silence.describe()}"
    return RedirectResponse("/silences?" + urlencode({"notice": notice}), 303)


async def silence_expire(console: Console, request: Request) -> Response:
    """End a silence now (it stays listed as expired)."""
    form = await request.form()
    try:
        silence = await store_of(console).expire(str(form.get("id") or ""), console.clock.now())
    except SilenceError as exc:
        return await _render(console, request, error=f"{exc}.", status_code=404)
    return RedirectResponse("/silences?" + urlencode({"notice": f"Silence {silence.id} expired"}), 303)


async def mute_link(console: Console, request: Request) -> Response:
    """GET of a signed "mute this story" link: a confirmation page with a button, never a silence.

    Public (the signature is the credential). Chat previewers, mail scanners and HEAD requests fetch links nobody
    clicked, and scanners that pretend to be browsers cannot be told apart, so unlike a vote (which a later click
    replaces) a mute is only set by the page's POST. The token stays out of other sites' logs (no-referrer, no-store).
    """
    previewer = request.method == "HEAD" or is_link_previewer(request.headers.get("user-agent", ""))
    return await _mute_page(console, request, request.query_params.get("t", ""), record=False, previewer=previewer)


async def mute_link_submit(console: Console, request: Request) -> Response:
    """POST of the confirmation page's button: sets the silence (by "link", with the form's reason or a default)."""
    form = await request.form()
    reason = str(form.get("reason") or "").strip() or LINK_REASON
    return await _mute_page(console, request, str(form.get("t") or ""), record=True, reason=reason)


async def _mute_page(
    console: Console, request: Request, token: str, *, record: bool, reason: str = "", previewer: bool = False
) -> Response:
    secret = console.config.console.vote_secret
    if secret is None:
        return console.render(request, "mute.html", status_code=404, error="Mute links are not enabled here.")
    now = console.clock.now()
    try:
        claim = verify_mute(secret.get_secret_value().encode(), token, now.timestamp())
    except MuteLinkError as exc:
        return console.render(request, "mute.html", status_code=403, error=f"Nothing muted: {exc}.")
    hours = claim.duration_seconds / 3600
    context: dict[str, Any] = {"claim": claim, "hours": f"{hours:g}", "token": token, "error": ""}
    context["previewer"] = previewer
    if not record:
        return console.render(request, "mute.html", silence=None, **context)
    matchers = [Matcher(field="story", value=claim.story_id)]
    if claim.subscription is not None:
        matchers.append(Matcher(field="subscription", value=claim.subscription))
    # One silence per link, its id derived from the token: a second click shows the silence the first one set,
    # and a silence an operator expired early is not set again by whoever still holds the link.
    link_id = hashlib.sha256(token.encode()).hexdigest()[:16]
    try:
        silence = new_silence(matchers, claim.duration_seconds, reason, LINK_AUTHOR, now, silence_id=link_id)
    except SilenceError as exc:
        return console.render(request, "mute.html", status_code=400, **{**context, "error": f"Nothing muted: {exc}."})
    silence = await store_of(console).add_once(silence)
    context["ended"] = silence.state(now) == "expired"
    return console.render(request, "mute.html", silence=silence, **context)

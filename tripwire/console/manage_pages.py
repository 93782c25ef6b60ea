"""Manage from the console: add a feed from a site's URL (feed discovery), enable, disable and remove feeds; add,
edit, enable, disable and remove subscriptions; send a test alert through one.

Only with a console password set (the pages say how to enable them otherwise) and a config file to write. Every
change goes through config_edit.edit_config (comments and layout kept, validated by the normal loader first, one
line when refused), then the running services are asked to reload (shared/config_reload.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.notifier.sample_alert import send_test_alert
from shared.config import ConfigError, FeedConfig, TripwireConfig, load_config_file
from shared.config_reload import request_reload
from shared.http import make_http_client
from tripwire.console.config_edit import ConfigEditError, edit_config, entries, find, quoted, set_enabled
from tripwire.console.context import Console
from tripwire.feed_discovery import discover_feeds
from tripwire.feed_entries import ConfigWriteError, add_to_config

CHANNELS = ("webhook", "slack", "teams", "discord", "telegram", "email")


def _enabled(console: Console) -> bool:
    return console.config.console.password is not None and console.config_path is not None


async def manage_page(console: Console, request: Request) -> Response:
    """Feeds and subscriptions with their actions, or how to enable this page."""
    return _render(console, request)


def _render(console: Console, request: Request, status_code: int = 200, **extra: Any) -> Response:
    params = request.query_params
    context: dict[str, Any] = {
        "enabled": _enabled(console), "feeds": console.config.feeds, "subs": console.config.subscriptions,
        "topics": list(console.config.topics), "channels": CHANNELS, "notice": params.get("notice", ""),
        "error": "", "candidates": [], "site": "", "edit": None,
    }  # fmt: skip
    if (name := params.get("edit")) is not None:
        context["edit"] = next((s for s in console.config.subscriptions if s.name == name), None)
    context.update(extra)
    return console.render(request, "manage.html", status_code=status_code, **context)


async def _applied(console: Console, config: TripwireConfig, notice: str) -> Response:
    console.config = config
    await request_reload(console.redis, console.names)  # the services read the file again within seconds
    return RedirectResponse("/manage?" + urlencode({"notice": notice}), 303)


def _refused(console: Console, request: Request, error: str) -> Response:
    return _render(console, request, status_code=400, error=error)


async def feed_discover(console: Console, request: Request) -> Response:
    """The feeds a site's page leads to, each checked once, with an "Add" button each."""
    if not _enabled(console):
        return _render(console, request, status_code=403)
    site = str((await request.form()).get("site") or "").strip()
    if not site.lower().startswith(("http://", "https://")):
        return _refused(console, request, "Give the site's address, starting with http:// or https://.")
    settings = console.config.poller
    async with make_http_client(
        console.config.network, timeout=settings.timeout, user_agent=settings.user_agent
    ) as http:
        found = await discover_feeds(http, site, settings, console.clock.now())
    known = {feed.url for feed in console.config.feeds}
    return _render(console, request, candidates=found, site=site, known=known)


async def feed_add(console: Console, request: Request) -> Response:
    """Append one discovered (or typed) feed to ``feeds:``."""
    if not _enabled(console) or console.config_path is None:
        return _render(console, request, status_code=403)
    form = await request.form()
    url, name, language = (str(form.get(k) or "").strip() for k in ("url", "name", "language"))
    if url in {feed.url for feed in console.config.feeds}:
        return _refused(console, request, f"{url} is already in the config.")
    try:
        feed = FeedConfig(url=url, name=name or None, language=language or None)
        add_to_config(console.config_path, [feed])
    except (ConfigWriteError, ValueError) as exc:
        return _refused(console, request, " ".join(f"Feed not added: {exc}".split()))
    try:
        config = load_config_file(console.config_path)
    except ConfigError as exc:  # written and checked a moment ago: only a concurrent hand edit gets here
        return _refused(console, request, " ".join(str(exc).split()))
    return await _applied(console, config, f"Feed added: {name or url}")


async def feed_state(console: Console, request: Request) -> Response:
    """Enable, disable or remove one feed (``url``, ``action``)."""
    return await _entry_state(console, request, "feeds", "url", "Feed")


async def sub_state(console: Console, request: Request) -> Response:
    """Enable, disable or remove one subscription (``name``, ``action``)."""
    return await _entry_state(console, request, "subscriptions", "name", "Subscription")


async def _entry_state(console: Console, request: Request, section: str, key: str, label: str) -> Response:
    """Enable, disable or remove the entry of ``section`` whose ``key`` the form names (``key``, ``action``)."""
    form = await request.form()
    value, action = str(form.get(key) or ""), str(form.get("action") or "")

    def change(doc: CommentedMap) -> None:
        listed = entries(doc, section)
        index = find(listed, key, value)
        if action == "remove":
            del listed[index]
        elif action in ("enable", "disable"):
            set_enabled(listed[index], action == "enable")
        else:
            raise ConfigEditError(f"unknown action {action!r}")

    return await _edit(console, request, change, f"{label} {action}d: {value}")


async def sub_save(console: Console, request: Request) -> Response:
    """Add a subscription, or edit one (``original`` names it): name, type, url, topics, min_score.

    The URL may be written as ``${ENV_VAR}`` (kept as written, expanded by the loader): a webhook URL is a secret,
    and the file may be shared. An empty URL when editing keeps the one in the file.
    """
    form = await request.form()
    original = str(form.get("original") or "")
    name, kind, url = (str(form.get(k) or "").strip() for k in ("name", "type", "url"))
    topics = [str(t) for t in form.getlist("topics") if str(t)]
    min_score = str(form.get("min_score") or "").strip()

    def change(doc: CommentedMap) -> None:
        subs = entries(doc, "subscriptions")
        entry = subs[find(subs, "name", original)] if original else CommentedMap()
        if not original and any(isinstance(s, dict) and s.get("name") == name for s in subs):
            raise ConfigEditError(f"a subscription named {name!r} exists already")
        if not original and not url:
            raise ConfigEditError("a new subscription needs its url (or ${ENV_VAR} naming it)")
        entry["name"] = quoted(name)
        entry["type"] = quoted(kind)
        if url or not original:
            entry["url"] = quoted(url)
        if topics:
            seq = CommentedSeq(quoted(topic) for topic in topics)
            seq.fa.set_flow_style()
            entry["topics"] = seq
        else:
            entry.pop("topics", None)
        if min_score:
            entry["min_score"] = float(min_score)
        else:
            entry.pop("min_score", None)
        if not original:
            subs.append(entry)

    verb = "saved" if original else "added"
    return await _edit(console, request, change, f"Subscription {verb}: {name}")


async def _edit(console: Console, request: Request, change: Any, notice: str) -> Response:
    if not _enabled(console) or console.config_path is None:
        return _render(console, request, status_code=403)
    try:
        config = edit_config(console.config_path, change)
    except (ConfigEditError, ValueError) as exc:
        return _refused(console, request, str(exc))
    return await _applied(console, config, notice)


async def sub_test(console: Console, request: Request) -> Response:
    """Send one sample alert through a subscription's channel now (no retries, nothing stored)."""
    if not _enabled(console):
        return _render(console, request, status_code=403)
    name = str((await request.form()).get("name") or "")
    sub = next((s for s in console.config.subscriptions if s.name == name), None)
    if sub is None:
        return _refused(console, request, f"No subscription named {name!r}.")
    settings = console.config.notifier
    async with make_http_client(console.config.network, timeout=settings.timeout, user_agent="tripwire-test") as http:
        result = await send_test_alert(sub, http, console.clock, console.config)
    if result.ok:
        return RedirectResponse("/manage?" + urlencode({"notice": f"Test alert delivered to {name}"}), 303)
    retry = "retryable" if result.retryable else "not retryable"
    return _refused(console, request, f"Test alert to {name} failed ({retry}): {result.reason}")

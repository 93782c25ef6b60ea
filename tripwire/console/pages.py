"""The console's pages and form actions (each a ``handler(console, request) -> Response``)."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from services.notifier.store import DeadLetter, DeadLetters
from tripwire.console import auth, data, silence_pages
from tripwire.console.context import Console
from tripwire.console.story_groups import group_stories

BROKEN = {"failing", "stale", "error", "gone"}
PAGE_SIZE = 100


def _safe_next(target: str | None) -> str:
    # Only local paths: "//evil.example" or "https://..." would turn the login into an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def healthz(console: Console, request: Request) -> Response:
    """For Docker's healthcheck, without login: 200 when Redis answers, 503 when it does not; shows no data."""
    try:
        await console.redis.ping()
    except (RedisError, OSError):
        return PlainTextResponse("redis unreachable\n", 503)
    return PlainTextResponse("ok\n")


async def login_form(console: Console, request: Request) -> Response:
    """The password form (straight to the console when no password is configured)."""
    if console.config.console.password is None:
        return RedirectResponse("/", 303)
    return console.render(request, "login.html", next=_safe_next(request.query_params.get("next")), error="")


async def login_submit(console: Console, request: Request) -> Response:
    """Check the password; a wrong one shows the form again with one plain sentence."""
    form = await request.form()
    target = _safe_next(str(form.get("next") or ""))
    if not auth.csrf_valid(request, form.get(auth.CSRF_FIELD)):
        return console.render(request, "login.html", status_code=403, next=target, error="The form expired: try again.")
    address = request.client.host if request.client else "unknown"
    if (wait := await console.throttle.admit(address)) is not None:
        return _locked_out(console, request, target, wait)
    if not auth.check_password(console.config.console.password, str(form.get("password") or "")):
        if (wait := await console.throttle.failed(address)) is not None:
            return _locked_out(console, request, target, wait)
        return console.render(request, "login.html", status_code=401, next=target, error="Wrong password.")
    await console.throttle.clear(address)
    auth.log_in(request)
    return RedirectResponse(target, 303)


def _locked_out(console: Console, request: Request, target: str, wait: int) -> Response:
    message = f"Too many failed logins from your address: try again in {wait} seconds."
    response = console.render(request, "login.html", status_code=429, next=target, error=message)
    response.headers["Retry-After"] = str(wait)
    return response


async def logout(console: Console, request: Request) -> Response:
    """End the session."""
    auth.log_out(request)
    return RedirectResponse("/login", 303)


async def feeds_page(console: Console, request: Request) -> Response:
    """Each feed's health; ``?broken=1`` keeps only failing, stale, erroring and gone feeds."""
    rows = await data.feeds(console.redis, console.config, console.names, console.clock.now())
    broken_only = request.query_params.get("broken") == "1"
    if broken_only:
        rows = [row for row in rows if row["status"] in BROKEN]
    return console.render(request, "feeds.html", rows=rows, broken_only=broken_only, broken=BROKEN)


def _score(value: str | None, default: float) -> float:
    try:
        return min(1.0, max(0.0, float(value))) if value not in (None, "") else default
    except ValueError:
        return default


async def items_page(console: Console, request: Request) -> Response:
    """The latest items with their topic scores and reasons; search and filters in the query string."""
    params = request.query_params
    text, topic, feed = params.get("q", ""), params.get("topic", ""), params.get("feed", "")
    low, high = _score(params.get("min"), 0.0), _score(params.get("max"), 1.0)
    language = params.get("lang", "")
    filters = {"text": text, "topic": topic, "feed": feed, "min_score": low, "max_score": high, "lang": language}
    views = await data.recent_items(console.redis, console.names)
    shown = data.filter_items(
        views, text=text, topic=topic, feed=feed, min_score=low, max_score=high, language=language
    )
    return console.render(
        request, "items.html", items=shown[:PAGE_SIZE], total=len(shown), scanned=len(views), filters=filters,
        topics=list(console.config.topics), feeds=console.config.feeds,
        languages=data.languages_seen([view.item for view in views]),
    )  # fmt: skip


async def alerts_page(console: Console, request: Request) -> Response:
    """The latest alerts grouped by story (``?story=`` keeps one) and, per subscription, each delivery's outcome."""
    story, language = request.query_params.get("story", ""), request.query_params.get("lang", "")
    alerts = [alert for _, alert in await data.recent_alerts(console.redis, console.names)]
    languages = data.languages_seen([alert.item for alert in alerts])
    if language:
        alerts = [alert for alert in alerts if data.in_language(alert.item, language)]
    groups = group_stories(alerts, story)
    shown = groups[:PAGE_SIZE]
    shown_alerts = [alert for group in shown for alert in group.alerts]
    deliveries = await data.deliveries(console.redis, console.store, console.config, shown_alerts)
    deliveries = silence_pages.mark_silenced(deliveries, await silence_pages.silenced_pairs(console))
    return console.render(
        request, "alerts.html", groups=shown, deliveries=deliveries, story=story, total=len(groups),
        scanned=len(alerts), languages=languages, lang=language,
    )  # fmt: skip


async def dlq_page(console: Console, request: Request) -> Response:
    """Dead letters with their reasons, and the subscriptions disabled by a 410."""
    letters = await DeadLetters(console.store).entries()
    disabled = await console.store.disabled()
    notice = request.query_params.get("notice", "")
    return console.render(request, "dlq.html", letters=letters, disabled=disabled, notice=notice)


async def _targets(console: Console, request: Request) -> list[DeadLetter]:
    form = await request.form()
    letters = DeadLetters(console.store)
    if form.get("all") == "1":
        return await letters.entries(count=100_000)
    letter = await letters.get(str(form.get("entry_id") or ""))
    return [letter] if letter is not None else []


async def dlq_replay(console: Console, request: Request) -> Response:
    """Put one dead delivery (or all) back in the notifier's schedule, due now, and a dead-lettered stream entry
    back on its stream (as ``tripwire dlq replay``); other kinds are left alone."""
    letters = DeadLetters(console.store)
    replayed = 0
    for letter in await _targets(console, request):
        if letter.is_entry:
            await letters.replay_entry(letter)
            replayed += 1
        elif letter.is_delivery:
            await letters.replay(letter, console.clock.now().timestamp())
            replayed += 1
    return RedirectResponse(f"/dlq?notice=replayed+{replayed}", 303)


async def dlq_drop(console: Console, request: Request) -> Response:
    """Delete one dead letter (or all)."""
    targets = await _targets(console, request)
    dropped = await DeadLetters(console.store).drop([letter.entry_id for letter in targets])
    return RedirectResponse(f"/dlq?notice=dropped+{dropped}", 303)

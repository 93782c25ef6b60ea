"""Teaching: votes from the console and from signed links add learned examples; the list, removal, YAML export,
and how the votes moved the stored items' scores."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from services.classifier.learned import export_yaml, learned_examples, record_vote, remove_example
from shared.votes import VoteLinkError, verify_vote
from tripwire.console import data
from tripwire.console.context import Console
from tripwire.console.previewers import is_link_previewer

MOVED_ITEMS = 100  # the newest items compared with and without the votes
MOVED_MIN = 0.005  # smaller moves are rounding, not teaching


async def vote(console: Console, request: Request) -> Response:
    """A vote from a console page: ``item_id``, ``topic``, ``vote`` (relevant / not_relevant), ``back``."""
    form = await request.form()
    topic, choice = str(form.get("topic") or ""), str(form.get("vote") or "")
    item = await data.find_item(console.redis, console.names, str(form.get("item_id") or ""))
    if topic not in console.config.topics or choice not in ("relevant", "not_relevant") or item is None:
        return console.render(request, "error.html", status_code=400, message="Unknown item, topic or vote.")
    at = console.clock.now()
    await record_vote(console.redis, console.names, topic, item.text, choice == "relevant", item.id, at)
    back = str(form.get("back") or "/learned")
    return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/learned", 303)


async def vote_link(console: Console, request: Request) -> Response:
    """GET (or HEAD) of a signed vote link from Slack or a webhook: a browser's click records the vote and confirms.

    Public (the signature is the credential); a forged, altered or expired link records nothing. Link previewers and
    HEAD requests fetch links nobody clicked: they get the same page with a "Record my vote" button (a POST) and
    record nothing. The token stays out of other sites' logs: every console page is sent with
    ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` (app.SECURITY_HEADERS).
    """
    token = request.query_params.get("t", "")
    if request.method == "HEAD" or is_link_previewer(request.headers.get("user-agent", "")):
        return await _vote_page(console, request, token, record=False)
    return await _vote_page(console, request, token, record=True)


async def vote_link_submit(console: Console, request: Request) -> Response:
    """POST of the "Record my vote" button (the token in the form): records the vote like a browser's GET."""
    form = await request.form()
    return await _vote_page(console, request, str(form.get("t") or ""), record=True)


async def _vote_page(console: Console, request: Request, token: str, *, record: bool) -> Response:
    secret = console.config.console.vote_secret
    if secret is None:
        return console.render(request, "vote.html", status_code=404, error="Vote links are not enabled here.")
    try:
        claim = verify_vote(secret.get_secret_value().encode(), token, console.clock.now().timestamp())
    except VoteLinkError as exc:
        return console.render(request, "vote.html", status_code=403, error=f"Nothing recorded: {exc}.")
    alert = await data.find_alert(console.redis, console.names, claim.alert_id)
    if alert is None or alert.topic != claim.topic or claim.topic not in console.config.topics:
        return console.render(request, "vote.html", status_code=404, error="Nothing recorded: the alert is gone.")
    relevant = claim.vote == "relevant"
    if record:
        # One example per (topic, item): a second vote on the same alert, either way, replaces the first.
        await record_vote(console.redis, console.names, alert.topic, alert.item.text, relevant, alert.item.id,
                          console.clock.now())  # fmt: skip
    return console.render(request, "vote.html", alert=alert, relevant=relevant, recorded=record, token=token, error="")


async def learned_page(console: Console, request: Request) -> Response:
    """Every learned example per topic, and the stored items whose scores the votes moved."""
    learned = await learned_examples(console.redis, console.names, list(console.config.topics))
    moved: list[tuple[str, str, float, float]] = []
    if any(learned.values()):
        items = [view.item for view in (await data.recent_items(console.redis, console.names))[:MOVED_ITEMS]]
        now = await console.pool.score_items(items)
        before = await console.pool.score_texts_unlearned([item.text for item in items])
        for item, row_now, row_before in zip(items, now, before, strict=True):
            for after, prior in zip(row_now, row_before, strict=True):
                if abs(after.score - prior.score) >= MOVED_MIN:
                    moved.append((item.title, after.topic, prior.score, after.score))
    moved.sort(key=lambda row: -abs(row[3] - row[2]))
    return console.render(request, "learned.html", learned=learned, moved=moved)


async def learned_remove(console: Console, request: Request) -> Response:
    """Forget one learned example."""
    form = await request.form()
    await remove_example(console.redis, console.names, str(form.get("topic") or ""), str(form.get("id") or ""))
    return RedirectResponse("/learned", 303)


async def learned_export(console: Console, request: Request) -> Response:
    """The learned examples as YAML to paste under ``topics:`` in the config."""
    learned = await learned_examples(console.redis, console.names, list(console.config.topics))
    return PlainTextResponse(export_yaml(learned), media_type="text/yaml; charset=utf-8")

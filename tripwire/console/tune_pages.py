"""The tuning page: a topic's threshold and a subscription's min_score on sliders over stored items and an uploaded
labeled set; saved as Redis overrides the classifier (services/classifier/overrides.py) and the notifier
(services/notifier/overrides.py) apply from their next batch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.classifier.evaluation import EvalDataError
from services.classifier.overrides import clear_threshold, load_thresholds, save_threshold
from services.classifier.scoring import score_matrix
from services.notifier.overrides import clear_min_score, load_min_scores, save_min_score
from tripwire.console import data
from tripwire.console.charts import score_histogram
from tripwire.console.context import Console
from tripwire.console.sub_tuning import subscription_tuning, takers
from tripwire.console.tuning import (
    LabeledSet,
    labeled_figures,
    labeled_languages,
    language_figures,
    own_threshold_matrix,
    parse_labeled,
    pr_curve_svg_points,
)

STORED_ITEMS = 300  # the newest items the slider is tried on (each scored once per console run)


def _unit(value: object) -> float | None:
    """A 0..1 value from a form or query string; None when absent, not a number, or outside 0..1.

    Refused, not clamped: ``nan`` clamps to 0.0, and a min_score of 0 would send a subscription every alert.
    """
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


async def _context(console: Console, topic: str, threshold: float | None, params: Mapping[str, Any]) -> dict[str, Any]:
    topics = console.config.topics
    overrides = await load_thresholds(console.redis, console.names)
    configured = topics[topic].threshold
    current = overrides.get(topic, configured)
    chosen = current if threshold is None else threshold
    index = list(topics).index(topic)
    views = (await data.recent_items(console.redis, console.names))[:STORED_ITEMS]
    rows = await console.pool.score_items([view.item for view in views])
    scored = [(view.item, row[index]) for view, row in zip(views, rows, strict=True)]
    stored = sorted(((score.score, item) for item, score in scored), key=lambda pair: -pair[0])
    labeled = console.pool.labeled
    figures = labeled_figures(labeled, index, topic, chosen) if labeled else None
    by_language = language_figures(labeled, index, topic, chosen) if labeled else []
    subs = takers(console.config.subscriptions, topic)
    sub = next((s for s in subs if s.name == params.get("sub")), subs[0] if subs else None)
    sub_tuning = None
    if sub is not None:
        saved = (await load_min_scores(console.redis, console.names)).get(sub.name)
        min_score = _unit(params.get("min_score"))
        sub_tuning = subscription_tuning(sub, saved, min_score, topic, index, current, scored, labeled)
    return {
        "topic": topic, "topics": list(topics), "configured": configured, "override": overrides.get(topic),
        "threshold": chosen, "stored": stored, "would_alert": sum(score >= chosen for score, _ in stored),
        "alert_now": sum(score >= current for score, _ in stored), "labeled": labeled, "figures": figures,
        "curve_points": pr_curve_svg_points(figures.curve) if figures else "", "by_language": by_language,
        "histogram": score_histogram([score for score, _ in stored], chosen, figures.curve if figures else [],
                                     f"Scores of the latest items for {topic} and the threshold"),
        "subs": [s.name for s in subs], "sub": sub_tuning,
        "sub_topics": (sub.topics or list(topics)) if sub is not None else [],
    }  # fmt: skip


def _topic(console: Console, value: object) -> str:
    topics = list(console.config.topics)
    return str(value) if value in topics else topics[0]


async def tune_page(console: Console, request: Request) -> Response:
    """The slider page for one topic (``?topic=&threshold=``) and a subscription of it (``&sub=&min_score=``)."""
    if not console.config.topics:
        return console.render(request, "error.html", message="No topics are configured.")
    params = request.query_params
    topic = _topic(console, params.get("topic"))
    context = await _context(console, topic, _unit(params.get("threshold")), params)
    return console.render(request, "tune.html", **context)


async def tune_text(console: Console, request: Request) -> Response:
    """Every topic's score and reasons for a pasted text."""
    form = await request.form()
    text = str(form.get("text") or "").strip()[:10_000]
    topic = _topic(console, form.get("topic"))
    context = await _context(console, topic, None, form)
    results = (await console.pool.score_texts([text]))[0] if text else []
    return console.render(request, "tune.html", text=text, results=results, **context)


async def tune_labeled(console: Console, request: Request) -> Response:
    """Score an uploaded labeled JSONL file; the page then shows precision and recall for the sliders' values."""
    form = await request.form()  # parsed (and size-limited) once, by the CSRF check; cached since
    upload = form.get("file")
    topic = _topic(console, form.get("topic"))
    error = ""
    if isinstance(upload, UploadFile):
        name = upload.filename or "upload.jsonl"
        try:
            content = (await upload.read()).decode("utf-8")
            rows = parse_labeled(name, content, set(console.config.topics))
        except (EvalDataError, UnicodeDecodeError) as exc:
            error = str(exc) if isinstance(exc, EvalDataError) else f"{name}: not UTF-8 text"
        else:
            texts = [text for text, _ in rows]
            languages = labeled_languages(content)
            results = await console.pool.score_texts(texts, languages)
            labels = [labels for _, labels in rows]
            console.pool.labeled = LabeledSet(
                name, score_matrix(results), labels, texts, languages, own_threshold_matrix(results)
            )
    else:
        error = "Choose a JSONL file to upload."
    context = await _context(console, topic, _unit(form.get("threshold")), form)
    return console.render(request, "tune.html", status_code=400 if error else 200, error=error, **context)


async def tune_save(console: Console, request: Request) -> Response:
    """Keep the slider's threshold as the topic's override."""
    form = await request.form()
    topic = _topic(console, form.get("topic"))
    threshold = _unit(form.get("threshold"))
    if threshold is None:
        return console.render(request, "error.html", status_code=400, message="The threshold must be a number 0..1.")
    await save_threshold(console.redis, console.names, topic, threshold)
    return RedirectResponse(f"/tune?topic={topic}", 303)


async def tune_clear(console: Console, request: Request) -> Response:
    """Back to the configured threshold."""
    form = await request.form()
    topic = _topic(console, form.get("topic"))
    await clear_threshold(console.redis, console.names, topic)
    return RedirectResponse(f"/tune?topic={topic}", 303)


def _subscription(console: Console, value: object) -> str | None:
    names = {sub.name for sub in console.config.subscriptions}
    return str(value) if value in names else None


async def min_score_save(console: Console, request: Request) -> Response:
    """Keep the slider's min_score as the subscription's override (the notifier routes with it from its next alert)."""
    form = await request.form()
    topic, name = _topic(console, form.get("topic")), _subscription(console, form.get("sub"))
    min_score = _unit(form.get("min_score"))
    if name is None or min_score is None:
        return console.render(request, "error.html", status_code=400, message="Unknown subscription or min_score.")
    await save_min_score(console.redis, console.names, name, min_score)
    return RedirectResponse(f"/tune?topic={topic}&sub={name}#subscription", 303)


async def min_score_clear(console: Console, request: Request) -> Response:
    """Back to the subscription's configured min_score."""
    form = await request.form()
    topic, name = _topic(console, form.get("topic")), _subscription(console, form.get("sub"))
    if name is None:
        return console.render(request, "error.html", status_code=400, message="Unknown subscription.")
    await clear_min_score(console.redis, console.names, name)
    return RedirectResponse(f"/tune?topic={topic}&sub={name}#subscription", 303)

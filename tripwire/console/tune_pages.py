"""The tuning page: a topic's threshold on a slider over stored items and an uploaded labeled set; saved as a
Redis override the classifier applies from its next batch (services/classifier/overrides.py)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.classifier.evaluation import EvalDataError
from services.classifier.overrides import clear_threshold, load_thresholds, save_threshold
from services.classifier.scoring import score_matrix
from tripwire.console import data
from tripwire.console.app import Console
from tripwire.console.tuning import LabeledSet, labeled_figures, parse_labeled, pr_curve_svg_points

STORED_ITEMS = 300  # the newest items the slider is tried on (each scored once per console run)


def _threshold(value: object, default: float) -> float:
    try:
        return min(1.0, max(0.0, float(str(value))))
    except ValueError:
        return default


async def _context(console: Console, request: Request, topic: str, threshold: float | None) -> dict[str, Any]:
    topics = console.config.topics
    overrides = await load_thresholds(console.redis, console.names)
    configured = topics[topic].threshold
    current = overrides.get(topic, configured)
    chosen = current if threshold is None else threshold
    index = list(topics).index(topic)
    views = (await data.recent_items(console.redis, console.names))[:STORED_ITEMS]
    rows = await console.pool.score_items([view.item for view in views])
    stored = sorted(
        ((row[index].score, view.item) for view, row in zip(views, rows, strict=True)), key=lambda pair: -pair[0]
    )
    labeled = console.pool.labeled
    figures = labeled_figures(labeled, index, topic, chosen) if labeled else None
    return {
        "topic": topic, "topics": list(topics), "configured": configured, "override": overrides.get(topic),
        "threshold": chosen, "stored": stored, "would_alert": sum(score >= chosen for score, _ in stored),
        "alert_now": sum(score >= current for score, _ in stored), "labeled": labeled, "figures": figures,
        "curve_points": pr_curve_svg_points(figures.curve) if figures else "",
    }  # fmt: skip


def _topic(console: Console, value: object) -> str:
    topics = list(console.config.topics)
    return str(value) if value in topics else topics[0]


async def tune_page(console: Console, request: Request) -> Response:
    """The slider page for one topic (``?topic=&threshold=``)."""
    if not console.config.topics:
        return console.render(request, "error.html", message="No topics are configured.")
    topic = _topic(console, request.query_params.get("topic"))
    raw = request.query_params.get("threshold")
    threshold = _threshold(raw, 0.5) if raw else None
    return console.render(request, "tune.html", **await _context(console, request, topic, threshold))


async def tune_text(console: Console, request: Request) -> Response:
    """Every topic's score and reasons for a pasted text."""
    form = await request.form()
    text = str(form.get("text") or "").strip()[:10_000]
    topic = _topic(console, form.get("topic"))
    context = await _context(console, request, topic, None)
    results = (await console.pool.score_texts([text]))[0] if text else []
    return console.render(request, "tune.html", text=text, results=results, **context)


async def tune_labeled(console: Console, request: Request) -> Response:
    """Score an uploaded labeled JSONL file; the page then shows precision and recall for the slider's threshold."""
    form = await request.form()  # parsed (and size-limited) once, by the CSRF check; cached since
    upload = form.get("file")
    topic = _topic(console, form.get("topic"))
    error = ""
    if isinstance(upload, UploadFile):
        name = upload.filename or "upload.jsonl"
        try:
            rows = parse_labeled(name, (await upload.read()).decode("utf-8"), set(console.config.topics))
        except (EvalDataError, UnicodeDecodeError) as exc:
            error = str(exc) if isinstance(exc, EvalDataError) else f"{name}: not UTF-8 text"
        else:
            scores = score_matrix(await console.pool.score_texts([text for text, _ in rows]))
            console.pool.labeled = LabeledSet(name, scores, [labels for _, labels in rows])
    else:
        error = "Choose a JSONL file to upload."
    context = await _context(console, request, topic, _threshold(form.get("threshold"), 0.5))
    return console.render(request, "tune.html", status_code=400 if error else 200, error=error, **context)


async def tune_save(console: Console, request: Request) -> Response:
    """Keep the slider's threshold as the topic's override."""
    form = await request.form()
    topic = _topic(console, form.get("topic"))
    threshold = _threshold(form.get("threshold"), console.config.topics[topic].threshold)
    await save_threshold(console.redis, console.names, topic, threshold)
    return RedirectResponse(f"/tune?topic={topic}", 303)


async def tune_clear(console: Console, request: Request) -> Response:
    """Back to the configured threshold."""
    form = await request.form()
    topic = _topic(console, form.get("topic"))
    await clear_threshold(console.redis, console.names, topic)
    return RedirectResponse(f"/tune?topic={topic}", 303)

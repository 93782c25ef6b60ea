"""Subcommands to tune the classifier: score, eval, backtest."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import UsageError

if TYPE_CHECKING:
    from services.classifier.scoring import Scorer
    from shared.clock import Clock
    from shared.config import Settings

# Handlers import what they use when they run: building the parser (and `tripwire --help`) loads no model code.
ARTICLE_TIMEOUT = 15.0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add score, eval and backtest."""
    score = subparsers.add_parser("score", parents=[common], help="score a text, a title/summary or an article URL")
    score.add_argument("text", nargs="?", help="the text to score (title and summary together)")
    score.add_argument("--title", help="the item's title")
    score.add_argument("--summary", default="", help="the item's summary")
    score.add_argument("--url", help="fetch this article and score its title and text")
    score.add_argument("--json", action="store_true", help="print the scores and reasons as JSON")
    score.set_defaults(handler=_score)

    evaluate_ = subparsers.add_parser("eval", parents=[common], help="precision, recall and F1 on a labeled set")
    evaluate_.add_argument("--data", required=True, type=Path, help='JSONL: {"title", "summary", "labels": [...]}')
    evaluate_.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate_.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the precision-recall curves")
    evaluate_.add_argument("--min-precision", type=float, metavar="P", help="also find the threshold reaching P")
    evaluate_.add_argument(
        "--exact",
        action="store_true",
        help="embed every sentence of every item (slower); by default, as the service does, only of items within "
        "the sentence margin of a threshold, which changes no decision but lowers scores far below the thresholds",
    )
    evaluate_.set_defaults(handler=_eval)

    replay = subparsers.add_parser("backtest", parents=[common], help="re-score recent items with this config")
    replay.add_argument("--since", default="7d", help="how far back, e.g. 12h or 7d (default: 7d)")
    replay.set_defaults(handler=_backtest)


def load_scorer(settings: Settings) -> Scorer:
    """The model and the example embeddings, loaded once; on onnx-int8, fp32 decisions near the thresholds
    (services/classifier/rescoring.py)."""
    from services.classifier.rescoring import make_scorer

    return make_scorer(settings.config)


async def _score(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from services.classifier.report import format_scores

    text = await _text_to_score(args, settings)
    scorer = await asyncio.to_thread(load_scorer, settings)
    results = (await asyncio.to_thread(scorer.score_texts, [text]))[0]
    if args.json:
        print(json.dumps({r.topic: {"matched": r.matched, **r.reasons.model_dump()} for r in results}, indent=2))
    else:
        print(format_scores(results))
    return 0


async def _text_to_score(args: argparse.Namespace, settings: Settings) -> str:
    given = [name for name in ("text", "title", "url") if getattr(args, name)]
    if len(given) != 1:
        raise UsageError("give exactly one of: a text, --title (with --summary), or --url")
    if args.url:
        from services.classifier.article import ArticleError, fetch_article
        from shared.http import make_http_client
        from tripwire import __version__

        network = settings.config.network
        async with make_http_client(network, timeout=ARTICLE_TIMEOUT, user_agent=f"Tripwire/{__version__}") as http:
            try:
                title, body = await fetch_article(http, args.url)
            except ArticleError as exc:
                raise UsageError(str(exc)) from None
        return f"{title}. {body}".strip(". ")
    if args.title:
        return f"{args.title}. {args.summary}".strip(". ") if args.summary else str(args.title)
    return str(args.text)


async def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from services.classifier.batch_scoring import score_in_reads
    from services.classifier.evaluation import (
        EvalDataError,
        evaluate,
        evaluate_by_language,
        languages_json,
        load_labeled,
        report_json,
    )
    from services.classifier.report import format_eval, format_languages, plot_curves
    from services.classifier.scoring import score_matrix, threshold_matrix
    from tripwire.progress import progress_bar

    topics = settings.config.topics
    if args.min_precision is not None and not 0.0 < args.min_precision <= 1.0:
        raise UsageError(f"--min-precision: {args.min_precision} is not between 0 and 1; give e.g. 0.9")
    try:
        items = load_labeled(args.data, set(topics))
    except EvalDataError as exc:
        raise UsageError(str(exc)) from None
    scorer = await asyncio.to_thread(load_scorer, settings)
    read_count = settings.config.classifier.read_count

    with progress_bar(len(items), "eval") as progress:
        texts, languages = [item.text for item in items], [item.lang for item in items]
        results = await asyncio.to_thread(
            score_in_reads, scorer, texts, read_count, progress, exact=args.exact, languages=languages
        )
    names = list(topics)
    scores, row_thresholds = score_matrix(results), threshold_matrix(results)
    reports, any_topic = evaluate(
        scores, items, names, [topics[name].threshold for name in names], args.min_precision, row_thresholds
    )
    by_language = evaluate_by_language(scores, row_thresholds, items, names)
    if args.plot:
        await asyncio.to_thread(plot_curves, reports, args.plot)
    if args.json:
        document = report_json(reports, any_topic)
        if by_language:
            document["languages"] = languages_json(by_language)
        print(json.dumps(document, indent=2))
    else:
        print(format_eval(reports, any_topic, args.min_precision))
        if by_language:
            print(format_languages(by_language))
        if args.plot:
            print(f"precision-recall curves: {args.plot}")
    return 0


async def _backtest(args: argparse.Namespace, settings: Settings, clock: Clock | None = None) -> int:
    import asyncio

    from services.classifier.backtest import backtest
    from services.classifier.report import format_backtest
    from shared.clock import SystemClock
    from shared.config import parse_duration
    from shared.streams import StreamNames
    from tripwire.progress import progress_bar
    from tripwire.runtime import redis_connection

    try:
        window = parse_duration(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    since = (clock or SystemClock()).now() - timedelta(seconds=window)
    async with redis_connection(settings, allow_embedded=False, command="backtest") as redis:
        scorer = await asyncio.to_thread(load_scorer, settings)
        names = StreamNames.of(settings.config.redis)
        report = await backtest(
            redis,
            names,
            scorer,
            since,
            settings.config.classifier.read_count,
            progress=lambda total: progress_bar(total, "backtest"),
        )
    print(format_backtest(report, f"{since:%Y-%m-%d %H:%M} UTC"))
    sys.stdout.flush()
    return 0

"""Times as people read them: "12 min ago", "ends in 3 h", with the exact time in the viewer's zone on hover.

The page says the relative time and carries the exact instant in ``<time datetime="...">``; console.js turns the
instant into the viewer's own zone for the hover title (the server cannot know it). Without script the title still
says the exact time, in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape


def span(seconds: float) -> str:
    """A duration in its largest sensible unit: ``45 s``, ``12 min``, ``3 h``, ``2 d``."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        hours = seconds / 3600
        return f"{hours:.0f} h" if hours >= 10 or hours == int(hours) else f"{hours:.1f} h"
    return f"{seconds / 86400:.0f} d"


def relative(then: datetime, now: datetime) -> str:
    """``12 min ago`` for a past instant, ``in 3 h`` for a future one, ``just now`` within a few seconds."""
    delta = (then - now).total_seconds()
    if abs(delta) < 5:
        return "just now"
    return f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"


def time_element(then: datetime, now: datetime, text: str | None = None) -> Markup:
    """``<time datetime=ISO title="exact UTC">12 min ago</time>`` (console.js rewrites the title in local time)."""
    then_utc = then.astimezone(UTC)
    exact = then_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    shown = text if text is not None else relative(then, now)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(then_utc.isoformat(), exact, escape(shown))


@pass_context
def when_filter(context: Context, then: datetime, text: str | None = None) -> Markup:
    """Jinja filter ``{{ alert.created_at|when }}``: the page's ``now`` (Console.render sets it) against ``then``."""
    return time_element(then, context["now"], text)

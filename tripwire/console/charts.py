"""Charts drawn on the server as SVG: no script, no network, no build step, and the CSP stays default-src 'self'.

Every function returns Markup for a template. Text from feeds (outlets, titles, topics) is escaped here, because
Markup tells Jinja not to escape again. Colours are presentation attributes, not inline styles (the CSP forbids those).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from services.classifier.evaluation import Confusion

PALETTE = ("#1f5fbf", "#b3261e", "#1b7f3b", "#9a6700", "#6b3fa0", "#00838f", "#c2185b", "#5d4037")


def colour(index: int) -> str:
    """The nth series colour."""
    return PALETTE[index % len(PALETTE)]


def _svg(css_class: str, width: float, height: float, label: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart {css_class}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every piece of text in body went through escape()


def _text(x: float, y: float, text: object, *, anchor: str = "start", css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(str(text))}</text>'


def alerts_per_hour(series: Mapping[str, Sequence[int]], first_hour: datetime, label: str) -> Markup:
    """Stacked bars, one per hour (oldest left), one colour per topic, with day ticks and a legend."""
    hours = max((len(counts) for counts in series.values()), default=168)
    width, height, left, top, plot_h = 860.0, 230.0, 40.0, 10.0, 170.0
    bar = (width - left - 10) / hours
    totals = [sum(counts[h] for counts in series.values() if h < len(counts)) for h in range(hours)]
    peak = max(max(totals, default=0), 1)
    body = [f'<rect class="frame" x="{left}" y="{top}" width="{width - left - 10:.1f}" height="{plot_h}"/>']
    for hour in range(hours):
        y = top + plot_h
        for index, counts in enumerate(series.values()):
            count = counts[hour] if hour < len(counts) else 0
            if count:
                h = plot_h * count / peak
                y -= h
                body.append(
                    f'<rect class="bar" x="{left + hour * bar:.1f}" y="{y:.1f}" width="{max(bar - 0.5, 0.5):.1f}" '
                    f'height="{h:.1f}" fill="{colour(index)}"><title>{escape(str(count))}</title></rect>'
                )
    for hour in range(hours):
        at = first_hour + timedelta(hours=hour)
        if at.hour == 0:
            x = left + hour * bar
            body.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h + 4}"/>')
            body.append(_text(x + 2, top + plot_h + 16, at.strftime("%a %d"), css="axis"))
    body.append(_text(left - 4, top + 10, peak, anchor="end", css="axis"))
    body.append(_text(left - 4, top + plot_h, 0, anchor="end", css="axis"))
    x = left
    for index, topic in enumerate(series):
        body.append(f'<rect class="key" x="{x:.1f}" y="{height - 14}" width="10" height="10" fill="{colour(index)}"/>')
        body.append(_text(x + 14, height - 5, topic, css="legend"))
        x += 24 + 7.5 * len(topic)
    return _svg("chart-alerts", width, height, label, body)


def horizontal_bars(rows: Sequence[tuple[str, int]], label: str, css_class: str) -> Markup:
    """One labelled bar per row, longest first as given."""
    peak = max((value for _, value in rows), default=1) or 1
    width, row_h, left = 860.0, 22.0, 330.0
    height = max(row_h * len(rows) + 6, 30.0)
    body = []
    for index, (name, value) in enumerate(rows):
        y = 3 + index * row_h
        w = (width - left - 60) * value / peak
        body.append(_text(left - 6, y + 15, name[:48], anchor="end", css="legend"))
        body.append(f'<rect class="bar" x="{left}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                    f'fill="{colour(0)}"/>')  # fmt: skip
        body.append(_text(left + w + 4, y + 15, value, css="axis"))
    if not rows:
        body.append(_text(10, 20, "no data yet", css="axis"))
    return _svg(css_class, width, height, label, body)


def fill_bar(value: int, cap: int, label: str, css_class: str) -> Markup:
    """A bar filled to ``value`` of ``cap`` (e.g. a consumer's lag against the stream's cap)."""
    width, height = 300.0, 18.0
    share = min(value / cap, 1.0) if cap > 0 else 0.0
    tone = colour(1) if share > 0.5 else colour(3) if share > 0.1 else colour(2)
    body = [
        f'<rect class="frame" x="0" y="0" width="{width}" height="{height}"/>',
        f'<rect class="bar" x="0" y="0" width="{max(width * share, 1):.1f}" height="{height}" fill="{tone}"/>',
    ]
    return _svg(f"chart-fill {css_class}", width, height, label, body)


@dataclass(frozen=True)
class TimelinePoint:
    """One report of a story: when, from which outlet, in which language, how well it scored."""

    at: datetime
    outlet: str
    language: str
    score: float
    title: str
    first: bool


def story_timeline(points: Sequence[TimelinePoint], label: str) -> Markup:
    """Reports on a time axis (x) by score (y); the first report is a square, each follow-up a circle."""
    width, height, left, right, top, plot_h = 860.0, 70.0 + 22 * len(points), 50.0, 200.0, 12.0, 0.0
    plot_h = height - top - 30
    first, last = min(point.at for point in points), max(point.at for point in points)
    span = max((last - first).total_seconds() * 1.1, 600.0)  # reports minutes apart still spread out
    start = first - timedelta(seconds=(span - (last - first).total_seconds()) / 2)
    body = [f'<rect class="frame" x="{left}" y="{top}" width="{width - left - right:.1f}" height="{plot_h:.1f}"/>']
    for tick in (0.0, 0.5, 1.0):
        x = left + (width - left - right) * tick
        at = start + timedelta(seconds=span * tick)
        body.append(_text(x, height - 10, at.strftime("%d %b %H:%M"), anchor="middle", css="axis"))
    for index, point in enumerate(points):
        x = left + (width - left - right) * (point.at - start).total_seconds() / span
        y = top + plot_h - plot_h * min(max(point.score, 0.0), 1.0)
        tip = f"{point.outlet} · {point.language} · {point.score:.3f} · {point.title}"
        if point.first:
            shape = f'<rect class="report first" x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12"'
        else:
            shape = f'<circle class="report" cx="{x:.1f}" cy="{y:.1f}" r="6"'
        body.append(
            f'{shape} fill="{colour(index)}"><title>{escape(tip)}</title></{"rect" if point.first else "circle"}>'
        )
        legend = f"{point.outlet} ({point.language}) {point.score:.2f}"
        body.append(_text(width - right + 8, top + 14 + index * 22, legend, css="legend"))
        body.append(
            f'<circle cx="{width - right + 2:.1f}" cy="{top + 10 + index * 22:.1f}" r="4" fill="{colour(index)}"/>'
        )
    body.append(_text(left - 6, top + 8, "1.0", anchor="end", css="axis"))
    body.append(_text(left - 6, top + plot_h, "0", anchor="end", css="axis"))
    return _svg("chart-timeline", width, height, label, body)


def score_histogram(
    scores: Sequence[float], threshold: float, curve: Sequence[Confusion], label: str, bins: int = 40
) -> Markup:
    """Stored items' scores in ``bins`` bins over 0..1, the threshold as a line, and over a labeled file the
    precision and recall at each threshold on the same score axis (right-hand scale 0..1)."""
    width, height, left, top, plot_w, plot_h = 640.0, 250.0, 40.0, 10.0, 560.0, 200.0
    counts = [0] * bins
    for score in scores:
        counts[min(int(min(max(score, 0.0), 1.0) * bins), bins - 1)] += 1
    peak = max(max(counts), 1)
    body = [f'<rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>']
    for index, count in enumerate(counts):
        if count:
            h = plot_h * count / peak
            body.append(
                f'<rect class="bar" x="{left + plot_w * index / bins:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{plot_w / bins - 1:.1f}" height="{h:.1f}" fill="#9db5d8"><title>{count}</title></rect>'
            )
    lines = (("precision", [c.precision for c in curve], colour(2)), ("recall", [c.recall for c in curve], colour(1)))
    for name, values, tone in lines:
        pts = _steps([c.threshold for c in curve], values, left, top, plot_w, plot_h)
        if pts:
            body.append(f'<polyline class="curve {name}" points="{pts}" fill="none" stroke="{tone}" stroke-width="2"/>')
    x = left + plot_w * threshold
    body.append(f'<line id="threshold-line" class="threshold" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" '
                f'y2="{top + plot_h}" data-left="{left}" data-width="{plot_w}"/>')  # fmt: skip
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(_text(left + plot_w * tick, top + plot_h + 16, f"{tick:.2f}", anchor="middle", css="axis"))
    body.append(_text(left - 4, top + 10, peak, anchor="end", css="axis"))
    body.append(_text(left, height - 2, "score · bars: the latest stored items", css="axis"))
    if curve:
        body.append(_text(left + plot_w + 4, top + 10, "1.0", css="axis"))
        body.append(_text(left + plot_w, height - 2, "— recall (labeled file)", anchor="end", css="legend recall-key"))
        body.append(_text(left + plot_w - 150, height - 2, "— precision", anchor="end", css="legend precision-key"))
    return _svg("chart-histogram", width, height, label, body)


def _steps(thresholds: Sequence[float], values: Sequence[float], left: float, top: float, w: float, h: float) -> str:
    """A value that holds from each threshold to the next (an item alerts at score >= threshold), as points."""
    points = []
    for index, (at, value) in enumerate(zip(thresholds, values, strict=True)):
        until = thresholds[index + 1] if index + 1 < len(thresholds) else at
        y = top + h * (1 - value)
        start = 0.0 if index == 0 else at  # below the lowest score everything alerts, as at the lowest
        points += [f"{left + w * start:.1f},{y:.1f}", f"{left + w * until:.1f},{y:.1f}"]
    return " ".join(points)

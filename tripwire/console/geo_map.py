"""A map of the shipped flashpoint's region, drawn as SVG from bundled public-domain outlines (no tile server).

Outlines: geodata/region_outlines.json, Natural Earth 4.1.0 admin-0 countries at 1:50m (public domain), taken from
the npm package world-atlas 2.0.2 by tools/extract_region_outlines.py. Projection: equirectangular scaled by the
cosine of the middle latitude, which at this size is as good as any and needs no library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from shared.schemas import Place

OUTLINES = Path(__file__).parent / "geodata" / "region_outlines.json"
WEST, SOUTH, EAST, NORTH = 35.2, 32.1, 42.8, 37.7  # the frame: Syria and its borders
SCALE = 110.0  # pixels per degree of latitude
_COS = math.cos(math.radians((SOUTH + NORTH) / 2))
WIDTH, HEIGHT = (EAST - WEST) * _COS * SCALE, (NORTH - SOUTH) * SCALE
LABELS = {"Syria": (35.0, 38.6), "Turkey": (37.5, 37.3), "Iraq": (33.6, 42.0), "Lebanon": (33.9, 35.3),
          "Jordan": (32.3, 37.2)}  # fmt: skip


def project(lat: float, lon: float) -> tuple[float, float]:
    """Pixel (x, y) of a point in the map's frame."""
    return (lon - WEST) * _COS * SCALE, (NORTH - lat) * SCALE


def in_frame(lat: float, lon: float) -> bool:
    """True when the point lies inside the map's frame."""
    return SOUTH <= lat <= NORTH and WEST <= lon <= EAST


@cache
def _outlines() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(OUTLINES.read_text(encoding="utf-8"))
    return data


@cache
def _base() -> str:
    parts = []
    for country in _outlines()["countries"]:
        d = " ".join(
            "M" + " L".join("{:.1f},{:.1f}".format(*project(lat, lon)) for lon, lat in ring) + " Z"
            for ring in country["rings"]
        )
        css = "country home" if country["name"] == "Syria" else "country"
        parts.append(f'<path class="{css}" d="{d}"><title>{escape(country["name"])}</title></path>')
    for name, (lat, lon) in LABELS.items():
        x, y = project(lat, lon)
        parts.append(f'<text class="country-name" x="{x:.1f}" y="{y:.1f}">{escape(name)}</text>')
    return "".join(parts)


def region_map(places: Sequence[Place], routes: Mapping[str, Sequence[tuple[float, float]]], label: str) -> Markup:
    """The region, each road of ``routes`` as a line, each place as a labelled dot (outside the frame: left out)."""
    body = [_base()]
    for name, route in routes.items():
        points = " ".join("{:.1f},{:.1f}".format(*project(lat, lon)) for lat, lon in route)
        body.append(f'<polyline class="route" points="{points}"><title>{escape(name)}</title></polyline>')
    for place in places:
        if not in_frame(place.lat, place.lon):
            continue
        x, y = project(place.lat, place.lon)
        body.append(
            f'<circle class="place" cx="{x:.1f}" cy="{y:.1f}" r="5"><title>{escape(place.name)}</title></circle>'
        )
        body.append(f'<text class="place-name" x="{x + 7:.1f}" y="{y - 5:.1f}">{escape(place.name)}</text>')
    head = (
        f'<svg class="chart chart-map" viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<rect class="sea" x="0" y="0" width="{WIDTH:.0f}" height="{HEIGHT:.0f}"/>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - names went through escape()

"""Writes tripwire/console/geodata/region_outlines.json: country outlines around Syria for the console's map.

Source: the npm package world-atlas 2.0.2 (countries-50m.json: Natural Earth 4.1.0 admin-0 boundaries at 1:50m,
public domain; the package itself is ISC). Run once by hand, after ``npm pack world-atlas@2.0.2`` and unpacking:

    python tools/extract_region_outlines.py package/countries-50m.json

The outlines are clamped to the region's box plus a margin (the map's frame hides the margin), rounded to 0.01
degree (about 1 km, finer than the map draws) and stripped of repeated points.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tripwire" / "console" / "geodata" / "region_outlines.json"
COUNTRIES = {"760": "Syria", "792": "Turkey", "368": "Iraq", "422": "Lebanon", "400": "Jordan", "376": "Israel"}
BOX = (34.6, 31.6, 43.4, 38.4)  # lon/lat min, max: the map's region (tripwire/console/geo_map.py) plus a margin


def _arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # quantized and delta-encoded (TopoJSON specification, 2.1.3)
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        decoded.append(points)
    return decoded


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for index in indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points if not ring else points[1:])
    return ring


def _clamped(ring: list[tuple[float, float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for lon, lat in ring:
        point = [round(min(max(lon, BOX[0]), BOX[2]), 2), round(min(max(lat, BOX[1]), BOX[3]), 2)]
        if not out or out[-1] != point:
            out.append(point)
    return out


def main(path: str) -> None:
    """Extract, clamp and write the outlines."""
    topology = json.loads(Path(path).read_text())
    arcs = _arcs(topology)
    countries = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = COUNTRIES.get(str(geometry.get("id")))
        if name is None:
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        rings = [_clamped(_ring(ring, arcs)) for polygon in polygons for ring in polygon]
        rings = [ring for ring in rings if len({tuple(p) for p in ring}) >= 3]
        countries.append({"name": name, "rings": rings})
    source = "Natural Earth 4.1.0 admin-0 countries 1:50m (public domain), via the npm package world-atlas 2.0.2"
    OUT.write_text(json.dumps({"source": source, "box": BOX, "countries": countries}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])

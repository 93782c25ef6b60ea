"""The limits as docs/operations/security.md documents them: tests check the documented number, not the constant."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations" / "security.md"
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024, "s": 1, "": 1}
_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([\d.]+)\s*(KiB|MiB|B|s)?\s*\|", re.MULTILINE)


def documented(name: str) -> int:
    """The value of the row ``name`` in docs/operations/security.md's limits table, in bytes, seconds or a count."""
    for row, number, unit in _ROW.findall(DOC.read_text(encoding="utf-8")):
        if row.strip().lower() == name.lower():
            return int(float(number) * UNITS[unit or ""])
    raise KeyError(f"docs/operations/security.md documents no limit named {name!r}")

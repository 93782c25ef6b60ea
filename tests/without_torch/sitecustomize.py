"""Loaded at start-up by any Python with this folder on PYTHONPATH: torch and the rest of the torch extra cannot be
imported, as in the Docker image's runtime venv, and each attempt is written to stderr so a test can tell "never
tried" from "tried and fell back".

The packages stay on disk (the test venv has them), so this also hides them from ``importlib.util.find_spec``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

BLOCKED = ("torch", "sentence_transformers", "transformers")
MARK = "without_torch: blocked import of"


class _Blocked:
    """A meta path finder, first in line, that says the torch extra's modules are not installed."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Refuse the blocked top-level packages and their submodules; leave everything else to the next finder."""
        if name.split(".")[0] in BLOCKED:
            print(f"{MARK} {name}", file=sys.stderr, flush=True)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Blocked())

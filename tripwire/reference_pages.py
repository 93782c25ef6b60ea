"""Write or check the generated reference pages of the docs site (``make reference``; a test runs ``--check``).

``python -m tripwire.reference_pages --write`` rewrites docs/reference/config.md (from the config model) and
docs/reference/cli.md (from the argument parser); ``--check`` exits 1 naming each page that is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "reference"


def _config_page() -> str:
    from tripwire.config_reference import generate_reference

    return generate_reference()


def _cli_page() -> str:
    from tripwire.cli import build_parser
    from tripwire.cli_reference import generate_cli_reference

    return generate_cli_reference(build_parser())


PAGES: dict[str, Callable[[], str]] = {"config.md": _config_page, "cli.md": _cli_page}


def stale_pages(folder: Path = DOCS) -> list[Path]:
    """The generated pages whose file differs from what the code generates now."""
    stale = []
    for name, generate in PAGES.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != generate():
            stale.append(path)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite every page (--write) or report the stale ones (--check, exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m tripwire.reference_pages", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    action.add_argument("--write", action="store_true", help="rewrite the pages")
    parser.add_argument("--folder", type=Path, default=DOCS, help="where the pages live (default: docs/reference)")
    args = parser.parse_args(argv)
    if args.write:
        args.folder.mkdir(parents=True, exist_ok=True)
        for name, generate in PAGES.items():
            (args.folder / name).write_text(generate(), encoding="utf-8")
        return 0
    stale = stale_pages(args.folder)
    for path in stale:
        print(f"{path}: stale; run: make reference", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

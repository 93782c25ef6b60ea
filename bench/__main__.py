"""``make bench``: run every benchmark module under bench/ (each has a ``main()``) and print one report."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time

import bench


def main(arguments: list[str]) -> int:
    """Run the named benchmarks, or all; what follows the first ``--option`` goes to each ``main`` that takes it."""
    first_option = next((n for n, arg in enumerate(arguments) if arg.startswith("-")), len(arguments))
    selected, options = arguments[:first_option], arguments[first_option:]
    names = sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_"))
    names = [name for name in names if not selected or name in selected]
    if not names:
        print("no benchmarks found", file=sys.stderr)
        return 1
    for name in names:
        print(f"\n=== bench/{name} ===", flush=True)
        started = time.perf_counter()
        run = importlib.import_module(f"bench.{name}").main
        if options and inspect.signature(run).parameters:
            run(options)
        else:
            run()
        print(f"(bench/{name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

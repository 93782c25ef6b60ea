"""``python -m tests.docker.e2e [--quick]``: the Docker stack built and run for real (``make docker-e2e``)."""

from __future__ import annotations

import argparse
import sys

from tests.docker.e2e.engine import EngineUnavailable
from tests.docker.e2e.scenario import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="the core checks only (build, healthy, one alert, hardening)"
    )
    args = parser.parse_args()
    try:
        report = run(lambda line: print(line, flush=True), full=not args.quick)
    except EngineUnavailable as exc:
        print(f"docker-e2e: no container engine can start here: {exc}", file=sys.stderr)
        return 2
    failed = [name for name, ok, _, _ in report.results if not ok]
    print(f"docker-e2e: {len(report.results) - len(failed)} of {len(report.results)} checks passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/cli_startup: how long the ``tripwire`` command takes to start, before it does any work.

Measured: wall time of ``tripwire --help``, ``tripwire feeds --help`` and ``tripwire dlq --help`` as subprocesses
(``python -m tripwire``, the same interpreter and the console script's import path), each repeated; the median
and the slowest run. Baselines, same run, same interpreter: ``python -c pass`` (the floor: what any Python command
costs here) and the import of the modules the command line imported eagerly before issue 25 (the console, the
poller service and the classifier's command module), which every command paid before doing anything. Target: every
command that needs no model under 0.3 s.

Run: ``python -m bench cli_startup`` (``--runs N`` to change the repetitions).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
TARGET_S = 0.3
# Every module the command modules imported at their top before they imported them lazily (9b3fbe7): what
# `tripwire --help` loaded then, before argparse ran.
EAGER_MODULES = (
    "asyncio", "shared.config", "shared.logging", "shared.clock", "shared.http", "shared.streams",
    "services.classifier.article", "services.classifier.backends", "services.classifier.backtest",
    "services.classifier.batch_scoring", "services.classifier.embedder", "services.classifier.evaluation",
    "services.classifier.report", "services.classifier.routing", "services.classifier.scoring",
    "services.classifier.stories", "services.notifier.sample_alert", "services.notifier.store",
    "services.poller.state", "services.poller.websub", "tripwire.commands", "tripwire.demo", "tripwire.runtime",
    "tripwire.config_reference", "tripwire.console.server", "tripwire.opml", "tripwire.progress",
)  # fmt: skip
EAGER_BEFORE = "import argparse, " + ", ".join(EAGER_MODULES)
CASES = (
    ("python -c pass (floor)", ["-c", "pass"]),
    ("old eager imports (before)", ["-c", EAGER_BEFORE]),
    ("tripwire --help", ["-m", "tripwire", "--help"]),
    ("tripwire feeds --help", ["-m", "tripwire", "feeds", "--help"]),
    ("tripwire dlq --help", ["-m", "tripwire", "dlq", "--help"]),
)


def time_once(arguments: list[str]) -> float:
    """Seconds from start to exit of ``python ARGUMENTS`` in the repository, output discarded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, *arguments], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(runs: int) -> dict[str, list[float]]:
    """Each case ``runs`` times, interleaved (case after case), so a busy moment of the machine hits all alike."""
    for _label, arguments in CASES:
        time_once(arguments)  # warm the file cache and the .pyc files
    times: dict[str, list[float]] = {label: [] for label, _ in CASES}
    for _ in range(runs):
        for label, arguments in CASES:
            times[label].append(time_once(arguments))
    return times


def main(arguments: list[str] | None = None) -> None:
    """Print the median and the slowest start of each case, and each command against the floor and the before."""
    runs = int(arguments[arguments.index("--runs") + 1]) if arguments and "--runs" in arguments else RUNS
    times = measure(runs)
    floor = statistics.median(times[CASES[0][0]])
    before = statistics.median(times[CASES[1][0]])
    print(f"{runs} runs each, interleaved; {os.cpu_count()} CPUs; {sys.executable}")
    print(f"{'case':<28} {'median':>8} {'max':>8} {'over floor':>11} {'vs before':>10}")
    for label, _ in CASES:
        median = statistics.median(times[label])
        print(f"{label:<28} {median:>7.3f}s {max(times[label]):>7.3f}s {median - floor:>10.3f}s "
              f"{before / median:>9.1f}x")  # fmt: skip
    commands = [label for label, _ in CASES[2:]]
    slowest = max(statistics.median(times[label]) for label in commands)
    verdict = "met" if slowest < TARGET_S else "MISSED"
    print(f"target: every command under {TARGET_S:g} s (median): {verdict} (slowest median {slowest:.3f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])

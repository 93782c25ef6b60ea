"""bench/eval_week: ``tripwire eval`` and ``tripwire backtest`` on a week of items, as a user runs them.

The goal (issue 17): a week of 13,330 items in under 3 minutes on 2 cores, at the service's speed (the same pruned
scoring, read by read), with a progress bar on stderr. The week is made from a small labeled set of real news
(bench/_eval_week_data: distinct items pairing one item's title with another's summary, bench/e2e's mix of 5%
on-topic, 20% hard negatives, 75% negatives; labels only for timing) and written to a temp dir, never the repo.
Its source: the dev set (``../shared/data/dev.jsonl`` beside the repo, or ``--dev-set``); without it the shipped
eval sets (English near misses and the multilingual sets: harder and slower), as the output says.

Each command runs as a subprocess with the default backend, stderr on a pseudo-terminal (the bar draws only on a
terminal), wall clock timed; "ready" is the time until the bar's first frame (imports, model, file), the rest is
scoring and the report. Baseline, same run: one raw encode call over the first texts of the same file, in a
fresh process (as bench/classifier measures it). Eval runs at a tenth of the week and at the week (cost per item as
N grows); ``--quick``: 200 and 2,000 items. Backtest: the same items published into a private Redis (REDIS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench._eval_week_data import dev_sources, fallback_sources, shares_for, week, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
DEV_CANDIDATES = [ROOT.parent / "shared" / "data" / "dev.jsonl", ROOT.parent.parent / "shared" / "data" / "dev.jsonl"]
WEEK = 13_330
QUICK = 2_000
GOAL_S = 180.0
RAW_TEXTS = 2_000  # the raw baseline's texts: the first of the file (any prefix has the whole week's make-up)
SEED = 17
_FRAME = re.compile(r"(eval|backtest):\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")


@dataclass(frozen=True)
class Run:
    """One ``tripwire`` command as a user runs it: wall clock, and what its progress bar drew on stderr."""

    n: int
    wall_s: float
    ready_s: float  # until the bar's first frame (0/N): imports, model load, file or stream read
    frames: int  # bar frames drawn
    last_shown: int  # the highest count a frame showed
    last_frame_s: float
    cpu_s: float  # the process's user + system CPU, startup included
    load: float  # the machine's 1-minute load average at the end (it is shared)
    stdout: str

    @property
    def work_rate(self) -> float:
        """Items/s from the first frame to the exit: scoring and the report, what grows with N."""
        return self.n / max(1e-9, self.wall_s - self.ready_s)


def run_with_terminal(argv: list[str], n: int, env: dict[str, str]) -> Run:
    """Run ``argv`` with stderr on a pseudo-terminal (100 columns); time it and read the bar's frames."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks: list[tuple[float, str]] = []
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=slave, text=True)  # fmt: skip
    os.close(slave)

    def read() -> None:  # drains the terminal so the child never blocks on a full buffer
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not data:
                return
            chunks.append((time.perf_counter() - started, data.decode(errors="replace")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stdout, _ = process.communicate()
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    reader.join(timeout=10)
    os.close(master)
    if process.returncode != 0:
        drawn = "".join(text for _at, text in chunks)
        raise RuntimeError(f"{' '.join(argv[1:3])} exited {process.returncode}: {drawn[-2000:]}")
    frames = [(at, int(m.group(2))) for at, text in chunks for m in _FRAME.finditer(text)]
    load = os.getloadavg()[0]
    if not frames:
        return Run(n, wall, wall, 0, 0, wall, cpu, load, stdout)
    return Run(n, wall, frames[0][0], len(frames), max(c for _, c in frames), frames[-1][0], cpu, load, stdout)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for children: each run's process once it exits
    return usage.ru_utime + usage.ru_stime


def raw_encode(texts_file: Path) -> dict[str, float]:
    """Raw encode of the texts in a fresh process with the default backend: one call, after a warm-up."""
    argv = [sys.executable, "-m", "bench.eval_week", "--raw-worker", str(texts_file)]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    rates: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return rates


def _raw_worker(texts_file: Path) -> dict[str, float]:
    from services.classifier.backends import make_embedder
    from shared.config import load_config_file

    texts: list[str] = json.loads(texts_file.read_text(encoding="utf-8"))
    config = load_config_file(ROOT / "config" / "tripwire.yaml", {})
    embedder = make_embedder(config)  # exports the default backend's ONNX file once, before any run is timed
    embedder.encode(texts[:64])  # warm-up, excluded
    started, cpu = time.perf_counter(), time.process_time()
    embedder.encode(texts)
    elapsed = time.perf_counter() - started
    return {"items_s": len(texts) / elapsed, "cpu_ms": (time.process_time() - cpu) * 1000 / len(texts)}


async def _publish(redis_url: str, rows: list[dict[str, object]]) -> None:
    """The week's items into the items stream, as the poller publishes them."""
    from redis.asyncio import Redis

    from shared.config import load_config_file
    from shared.schemas import FeedRef, Item
    from shared.streams import DATA_FIELD, StreamNames

    names = StreamNames.of(load_config_file(ROOT / "config" / "tripwire.yaml", {}).redis)
    now, feed = datetime.now(UTC), FeedRef(url="http://127.0.0.1/week.xml")
    redis = Redis.from_url(redis_url)
    try:
        pipe = redis.pipeline(transaction=False)
        for row in rows:
            item = Item(id=str(row["id"]), feed=feed, title=str(row["title"]), summary=str(row["summary"]),
                        fetched_at=now, language=row.get("lang"))  # type: ignore[arg-type]  # fmt: skip
            pipe.xadd(names.items, {DATA_FIELD: item.to_json()}, maxlen=None)
        await pipe.execute()
    finally:
        await redis.aclose()


def _tripwire(*arguments: str) -> list[str]:
    config = str(ROOT / "config" / "tripwire.yaml")
    return [str(Path(sys.executable).with_name("tripwire")), *arguments, "--config", config, "--log-level", "WARNING"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TRIPWIRE_CONFIG")}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def _line(what: str, run: Run, raw: dict[str, float]) -> str:
    bar = f"bar: {run.frames} frames, up to {run.last_shown:,}/{run.n:,}" if run.frames else "NO progress bar on stderr"
    cpu_ms = run.cpu_s * 1000 / run.n
    return (
        f"{what} {run.n:>6,} items: {run.wall_s:6.1f} s wall (ready {run.ready_s:4.1f} s, then {run.work_rate:5.1f}"
        f" items/s = {run.work_rate / raw['items_s']:.2f}x raw); {cpu_ms:.1f} ms CPU/item, startup included"
        f" ({raw['cpu_ms'] / cpu_ms:.2f}x raw); {bar}; load {run.load:.1f}"
    )


def _source(dev_set: Path | None) -> tuple[list[object], str, str]:
    path = dev_set or next((p for p in DEV_CANDIDATES if p.exists()), None)
    if path is not None and path.exists():
        return list(dev_sources(path)), "real", f"the dev set's real news ({path.name})"
    return list(fallback_sources()), "fallback", "NO dev set: data/eval topics + multilingual sets (harder, slower)"


def main(arguments: list[str] | None = None) -> None:
    """Build the week, time raw encode, eval at two sizes and backtest at the larger; print rates and the goal."""
    parser = argparse.ArgumentParser(prog="bench.eval_week")
    parser.add_argument("--dev-set", type=Path)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK // 10:,} and {QUICK:,} items, not the week")
    parser.add_argument("--no-backtest", action="store_true", help="eval only")
    args, _ = parser.parse_known_args(arguments or [])
    from shared.redis_server import RedisServer

    big = QUICK if args.quick else WEEK
    sizes = (big // 10, big)
    sources, kind, described = _source(args.dev_set)
    rows = week(sources, shares_for(kind), big, random.Random(SEED))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="tripwire-eval-week-") as tmp:
        files = {n: write_jsonl(rows[:n], Path(tmp) / f"week-{n}.jsonl") for n in sizes}
        texts = [f"{r['title']}. {r['summary']}".strip(". ") if r["summary"] else str(r["title"]) for r in rows]
        (Path(tmp) / "raw.json").write_text(json.dumps(texts[:RAW_TEXTS]), encoding="utf-8")
        on_topic = sum(1 for r in rows if r["labels"]) / len(rows)
        print(f"items: {big:,} distinct, made from {described}; {on_topic:.1%} labeled on-topic "
              f"(labels of the summary's item: for timing, not quality figures)")  # fmt: skip
        raw = raw_encode(Path(tmp) / "raw.json")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the machine may be shared)")
        print(f"raw encode, default backend, fresh process, one call over the first {min(RAW_TEXTS, big):,} texts: "
              f"{raw['items_s']:.1f} items/s ({raw['cpu_ms']:.1f} ms CPU/item)")  # fmt: skip
        runs = [run_with_terminal(_tripwire("eval", "--data", str(files[n])), n, _env()) for n in sizes]
        for run in runs:
            print(_line("tripwire eval    ", run, raw))
        small, large = runs
        print(_flatness(small, large))
        _goal(small, large, raw["items_s"])
        if not args.no_backtest:
            with RedisServer(appendonly=False) as server:
                asyncio.run(_publish(server.url, rows))
                back = run_with_terminal(_tripwire("backtest", "--since", "1d"), big, _env(REDIS_URL=server.url))
            print(_line("tripwire backtest", back, raw))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _flatness(small: Run, large: Run) -> str:
    """Cost per item at the two sizes: wall after the bar's first frame, and CPU (startup spread over N)."""
    cpu_small, cpu_large = small.cpu_s * 1000 / small.n, large.cpu_s * 1000 / large.n
    return (
        f"cost per item, {small.n:,} -> {large.n:,} items: wall after ready {1000 / small.work_rate:.1f} -> "
        f"{1000 / large.work_rate:.1f} ms (ratio {small.work_rate / large.work_rate:.2f}); CPU {cpu_small:.1f} -> "
        f"{cpu_large:.1f} ms, startup included (ratio {cpu_large / cpu_small:.2f})"
    )


def _goal(small: Run, large: Run, raw: float) -> None:
    """The week's wall time: extrapolated from the smaller run, measured, and at the raw encode rate."""
    base = small if large.n == WEEK else large  # extrapolate from the largest run short of a week
    extrapolated = base.ready_s + WEEK / base.work_rate
    measured = f"measured {large.wall_s:.0f} s" if large.n == WEEK else "not measured (--quick)"
    print(f"a week of {WEEK:,} items: {extrapolated:.0f} s extrapolated from {base.n:,}, {measured}; "
          f"raw encode alone {WEEK / raw:.0f} s; goal {GOAL_S:.0f} s")  # fmt: skip


if __name__ == "__main__":
    if "--raw-worker" in sys.argv:
        print(json.dumps(_raw_worker(Path(sys.argv[sys.argv.index("--raw-worker") + 1]))))
    else:
        main(sys.argv[1:])

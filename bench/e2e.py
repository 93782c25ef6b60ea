"""bench/e2e: the whole pipeline, items stream -> classifier process(es) -> alerts stream -> notifier process ->
signed webhook to a receiver on 127.0.0.1, on a real Redis started here on a free port.

Prints, from one run: items/s and alerts/s under a burst of N items (default 2,000, ~5% matching), publish->delivery
latency p50/p95/p99 under that burst and at a steady 5 items/s, CPU seconds and peak memory per service, Redis
memory; the ceiling (raw ``model.encode`` on the same texts in one call, same batch size, same backend, in a fresh
process) and
the pipeline's ratio to it; the naive script a user would write (feedparser poll of the same items served as feeds,
keyword match, one ``encode`` per item, one blocking ``httpx.post`` per alert) and our speed over it; 1, 2 and 4
classifier processes; cost per item as N grows.

    python -m bench e2e [--quick] [--n 2000] [--sizes 1000,10000] [--procs 1,2,4] [--mix both|near-miss|real]

Two mixes, both ~5% on-topic. The near-miss mix (all of the above): data/eval/topics.jsonl, its unlabeled items
(deliberate near misses) repeated with one labeled item in every 20. The real-news mix (a burst of N through one
classifier process, the ceiling, the naive script and the share of items whose sentences were embedded): real RSS
items of the dev
set ../shared/data/dev.jsonl beside the repo (benchmarks only, never tests), 5% on-topic, 20% hard negatives,
75% negatives; skipped when the file is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from redis.asyncio import Redis

from bench._e2e_baseline import naive_script
from bench._e2e_pipeline import Pipeline, Receiver, RunResult, cpu_seconds, make_items, start_services
from bench._e2e_worker import bench_config
from services.classifier.evaluation import load_labeled
from shared.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "data" / "dev.jsonl"  # real news, kept outside the repo
MATCH_EVERY = 20  # one on-topic item in 20: ~5% of the mix matches
REAL_SHARES = {"on-topic": 1, "hard negatives": 4, "negatives": 15}  # of every 20 items of the real-news mix
DEV_GROUPS = {
    "standoff": "on-topic",
    "joint_patrol": "on-topic",
    "hard_negative": "hard negatives",
    "negative": "negatives",
}
STEADY_RATE = 5.0  # items/s
STEADY_ITEMS = 40  # at STEADY_RATE, every other one on-topic, so the latency figures have ~20 alerts behind them
CEILING_TEXTS = 1000  # the ceiling and the naive script run on the first texts of the same mix (same proportions)


Texts = list[tuple[str, str]]


def mix_groups(kind: str, dev_set: Path = DEV_SET, match_every: int = MATCH_EVERY) -> dict[str, tuple[Texts, int]]:
    """The mix's groups: name -> ((title, summary) pairs, how many of every cycle of the mix come from it)."""
    if kind == "real":
        rows = [json.loads(line) for line in dev_set.read_text(encoding="utf-8").splitlines() if line.strip()]
        return {
            name: ([(r["title"], r.get("summary") or "") for r in rows if DEV_GROUPS[r["category"]] == name], count)
            for name, count in REAL_SHARES.items()
        }
    labeled = load_labeled(ROOT / "data" / "eval" / "topics.jsonl")
    on = [(i.title, i.summary) for i in labeled if i.labels]
    off = [(i.title, i.summary) for i in labeled if not i.labels]
    return {"on-topic": (on, 1), "near-miss off-topic": (off, match_every - 1)}


def mix(n: int, groups: dict[str, tuple[Texts, int]]) -> Texts:
    """N (title, summary) pairs cycling through the groups in their proportions, each group's texts in turn."""
    pattern = [name for name, (_texts, count) in groups.items() for _ in range(count)]
    turns = {name: itertools.cycle(texts) for name, (texts, _count) in groups.items()}
    return [next(turns[pattern[k % len(pattern)]]) for k in range(n)]


def mix_line(kind: str, groups: dict[str, tuple[Texts, int]]) -> str:
    """What the mix is made of, in the output."""
    total = sum(count for _texts, count in groups.values())
    shares = ", ".join(f"{count / total:.0%} {name}" for name, (_texts, count) in groups.items())
    source = "real RSS news of the dev set" if kind == "real" else "data/eval/topics.jsonl"
    return f"{kind} mix ({source}): {shares}"


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000 if ordered else 0.0


def latency_line(result: RunResult) -> str:
    """p50/p95/p99 of publish -> delivery."""
    lat = result.latencies
    return f"p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, p99 {pct(lat, 99):.0f} ms over {len(lat)} alerts"


def ceiling(texts: list[str], batch_size: int) -> dict[str, float]:
    """Raw model.encode in a fresh process, like a service: items/s and CPU ms per item (``texts``, ``units``,
    ``texts_cpu_ms``, ``units_cpu_ms``) of the item texts alone and of the units the scorer needs."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(texts, file)
        file.flush()
        out = subprocess.run(  # our own module, fixed arguments
            [sys.executable, "-m", "bench._e2e_worker", "ceiling", file.name, str(batch_size)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    rates: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return rates


async def _session(args: argparse.Namespace, kind: str) -> None:
    config = bench_config("http://127.0.0.1/")
    batch_size = config.classifier.batch_size
    groups = mix_groups(kind, args.dev_set)
    texts = mix(max([args.n, *args.sizes]), groups)
    print(f"\n{mix_line(kind, groups)}")
    print(f"N={args.n} items, batch size {batch_size}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    receiver = Receiver()
    with RedisServer(appendonly=False) as server, receiver.server:
        hook = f"{receiver.server.url}/hook"
        redis = Redis.from_url(server.url)
        pipeline = Pipeline(redis, receiver, config.redis.maxlen, config.redis.stream_prefix)
        notifier = start_services("notifier", 1, server.url, hook)
        main: RunResult | None = None
        classifier_reports: dict[int, list[dict[str, float]]] = {}
        scaling: dict[int, tuple[float, float]] = {}  # processes -> (items/s, cores busy) at N
        main_cpu_ms = 0.0
        try:
            for procs in args.procs:
                started = time.perf_counter()
                classifiers = start_services("classifier", procs, server.url, hook)
                print(f"\n-- {procs} classifier process(es) (started in {time.perf_counter() - started:.1f} s)")
                sizes = [args.n, *(s for s in args.sizes if s != args.n)] if procs == args.procs[0] else [args.n]
                for size in sizes:
                    cpu_before = cpu_seconds(classifiers)
                    result = await pipeline.burst(make_items(texts[:size], f"p{procs}n{size}"))
                    cpu_ms = (cpu_seconds(classifiers) - cpu_before) * 1000 / size
                    busy = cpu_ms * size / 1000 / result.classified_s  # cores the classifiers kept busy
                    used, peak = await pipeline.redis_memory()
                    print(
                        f"burst of {size}: {size / result.classified_s:.1f} items/s classified, "
                        f"{result.alerts / result.delivered_s:.1f} alerts/s delivered ({result.alerts} alerts, "
                        f"all delivered {result.delivered_s:.1f} s after publish); classifier CPU {cpu_ms:.1f} ms/item"
                        f" ({busy:.2f} cores busy); Redis used {used / 2**20:.1f} MB"
                    )
                    if size == args.n:
                        scaling[procs] = (size / result.classified_s, busy)
                    print(f"  burst latency publish->delivery: {latency_line(result)}")
                    print(f"  {await _streams_line(pipeline)}")
                    if size == args.n and procs == args.procs[0]:
                        main, main_cpu_ms = result, cpu_ms
                if procs == args.procs[0] and kind == "near-miss":
                    steady_texts = mix(STEADY_ITEMS, mix_groups(kind, match_every=2))
                    steady = await pipeline.steady(make_items(steady_texts, f"s{procs}"), STEADY_RATE)
                    print(f"steady {STEADY_RATE:.0f} items/s: latency publish->delivery {latency_line(steady)}")
                classifier_reports[procs] = [c.stop() for c in classifiers]
                print(f"  classifier processes: {_cpu_line(classifier_reports[procs])}")
            rss = max((r.get("rss_mb", 0.0) for reports in classifier_reports.values() for r in reports), default=0.0)
            if len(scaling) > 1:
                print(f"\n{_scaling_note(scaling, rss)}")
        finally:
            notifier_report = notifier[0].stop()
            await redis.aclose()
        used, peak = await _after(pipeline, server.url)
        print(f"\nnotifier process: {notifier_report.get('cpu', 0):.1f} CPU s, "
              f"peak RSS {notifier_report.get('rss_mb', 0):.0f} MB; Redis peak {peak / 2**20:.1f} MB")  # fmt: skip
    assert main is not None
    sample = [item.text for item in make_items(texts[: min(args.n, CEILING_TEXTS)], "c")]
    _compare(main, main_cpu_ms, sample, batch_size, args)


async def _streams_line(pipeline: Pipeline) -> str:
    """Each stream's entries and bytes, and what it would hold at its cap (approximate MAXLEN on every XADD)."""
    parts = []
    for stream, (entries, size) in (await pipeline.stream_memory()).items():
        per_entry = size / max(1, entries)
        at_cap = per_entry * pipeline.maxlen / 2**20
        parts.append(
            f"{stream} {entries} entries, {size / 2**20:.1f} MB ({per_entry:.0f} B/entry, ~{at_cap:.0f} MB at the cap)"
        )
    return f"streams (cap {pipeline.maxlen} entries each): " + "; ".join(parts)


def _scaling_note(scaling: dict[int, tuple[float, float]], rss_mb: float) -> str:
    """Items/s and cores busy per process count, against one process, and what limits them on this machine."""
    cpus = os.cpu_count() or 1
    if not scaling:
        return "scaling: no runs"
    first, (base, busy) = min(scaling.items())
    runs = "; ".join(
        f"{p} process(es) {rate:.1f} items/s ({rate / base:.2f}x), {cores:.2f} cores busy"
        for p, (rate, cores) in sorted(scaling.items())
    )
    return (
        f"scaling on {cpus} CPUs: {runs}. {first} process(es) kept {busy:.2f} of {cpus} cores busy (the "
        f"model's passes wait on Python between reads, and the other services wake up on the same cores); processes up "
        f"to the core count fill the rest, more only contend for the cores, and each holds its own model "
        f"({rss_mb:.0f} MB RSS): more processes pay off with more cores."
    )


async def _after(pipeline: Pipeline, url: str) -> tuple[int, int]:
    pipeline.redis = Redis.from_url(url)
    try:
        return await pipeline.redis_memory()
    finally:
        await pipeline.redis.aclose()


def _cpu_line(reports: list[dict[str, float]]) -> str:
    cpu = sum(r.get("cpu", 0.0) for r in reports)
    rss = max((r.get("rss_mb", 0.0) for r in reports), default=0.0)
    return f"{cpu:.1f} CPU s in all, peak RSS {rss:.0f} MB per process"


def _compare(main: RunResult, cpu_ms: float, texts: list[str], batch_size: int, args: argparse.Namespace) -> None:
    """The ceiling and the naive script, measured after the pipeline so they do not compete with it."""
    pipeline_rate = main.items / main.classified_s
    raw = ceiling(texts, batch_size)
    raw_texts, raw_units = raw["texts"], raw["units"]
    print(f"\nitems whose sentences were embedded too (whole text within SENTENCE_MARGIN of a threshold): "
          f"{raw['sentences_share']:.0%} of the ceiling's {len(texts)} texts")  # fmt: skip
    print(f"ceiling, raw model.encode of item texts only ({len(texts)} texts): {raw_texts:.1f} items/s, "
          f"{raw['texts_cpu_ms']:.1f} ms CPU/item")  # fmt: skip
    print(f"ceiling, raw model.encode of the units the scorer embeds:        {raw_units:.1f} items/s, "
          f"{raw['units_cpu_ms']:.1f} ms CPU/item")  # fmt: skip
    print(f"pipeline (1 classifier process, burst of {main.items}):                {pipeline_rate:.1f} items/s, "
          f"{cpu_ms:.1f} ms CPU/item")  # fmt: skip
    print(f"ratio pipeline / raw encode of item texts:     {pipeline_rate / raw_texts:.2f} by items/s, "
          f"{raw['texts_cpu_ms'] / cpu_ms:.2f} by CPU per item")  # fmt: skip
    print(f"ratio pipeline / raw encode of scorer's units: {pipeline_rate / raw_units:.2f} by items/s, "
          f"{raw['units_cpu_ms'] / cpu_ms:.2f} by CPU per item")  # fmt: skip
    if args.naive:
        naive_rate = naive_script(texts[: args.naive])
        print(f"naive script: {naive_rate:.1f} items/s; ours / naive: {pipeline_rate / naive_rate:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (ceiling, naive): {peak:.0f} MB")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """--quick, --n, --sizes, --procs, --naive, --mix, --dev-set."""
    parser = argparse.ArgumentParser(prog="python -m bench e2e")
    parser.add_argument("--quick", action="store_true", help="N=400, sizes 200, naive 100, procs 1,2")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--sizes", default="1000,10000", help="extra burst sizes for cost per item")
    parser.add_argument("--procs", default="1,2,4", help="classifier process counts")
    parser.add_argument("--naive", type=int, default=500, help="items through the naive script")
    parser.add_argument("--mix", choices=("both", "near-miss", "real"), default="both", help="which mix(es) to run")
    parser.add_argument("--dev-set", type=Path, default=DEV_SET, help="the real-news mix's labeled JSONL")
    args = parser.parse_args(list(argv))
    if args.quick:  # smaller everything, except the process counts when given
        args.n, args.sizes, args.naive = 400, "200", 100
        args.procs = args.procs if "--procs" in argv else "1,2"
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s]
    args.procs = [int(p) for p in str(args.procs).split(",") if p]
    return args


def main(argv: Sequence[str] = ()) -> None:
    """Run the end-to-end benchmark on the near-miss mix, then the real-news mix (or the one ``--mix`` names)."""
    args = parse(argv)
    for kind in ("near-miss", "real") if args.mix == "both" else (args.mix,):
        if kind == "near-miss":
            asyncio.run(_session(args, kind))
        elif args.dev_set.is_file():  # one burst through one classifier process, the ceiling and the naive script
            real = argparse.Namespace(**{**vars(args), "procs": args.procs[:1], "sizes": []})
            asyncio.run(_session(real, kind))
        else:
            print(f"\nreal mix: skipped, no dev set at {args.dev_set} (--dev-set PATH)")

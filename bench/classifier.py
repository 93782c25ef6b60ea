"""bench/classifier: every embedding backend against raw torch, each in its own fresh process, on real news.

For each backend (torch, onnx, onnx-int8) a worker process loads the model and topics (time to ready), measures
raw encode of the item texts in one call (best of 2), then drains a full items stream through the classifier
service on a real Redis (items stream in, alerts stream out), at 1,000 items and, for the default backend, at
10,000 too (cost per item as N grows), and reports its own peak RSS (VmHWM). Ratios: each backend's raw encode
against torch's raw encode, and its service rate against its own raw encode. Then the wall time of
``tripwire score "one text"`` (the default backend, its ONNX file already cached).

Texts: bench/e2e's real-news mix (RSS items of the labeled dev set, ``../shared/data/dev.jsonl`` beside the repo or
``--dev-set``: 5% on-topic, 20% hard negatives, 75% negatives) cycled to N with distinct ids; without the dev set,
its near-miss mix of the shipped eval set (a third of items near a threshold: harder), as the output says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV_CANDIDATES = [ROOT.parent / "shared" / "data" / "dev.jsonl", ROOT.parent.parent / "shared" / "data" / "dev.jsonl"]
# onnx-int8 runs as the service does (fp32 re-scoring near thresholds: services/classifier/rescoring.py);
# onnx-int8-plain is the int8 model alone, the speed re-scoring is measured against.
BACKENDS = ("torch", "onnx", "onnx-int8", "onnx-int8-plain")
PLAIN = "-plain"
RSS_TARGET_MB = 300  # classifier RSS with every model a multilingual stream needs loaded (issue 27)
SIZES = (1000,)
DEFAULT_SIZES = (1000, 10_000)
LABELED_SETS = ("topics", "multilingual", "multilingual_holdout", "multilingual_sealed")  # under data/eval/


def _texts(dev_set: Path | None, n: int = 1000) -> tuple[list[tuple[str, str]], str]:
    """N (title, summary) pairs of bench/e2e's real-news mix (5% on-topic); without the dev set, its near-miss mix."""
    from bench.e2e import mix, mix_groups, mix_line

    path = dev_set or next((p for p in DEV_CANDIDATES if p.exists()), None)
    kind = "real" if path is not None and path.exists() else "near-miss"
    groups = mix_groups(kind, path) if path is not None else mix_groups(kind)
    return mix(n, groups), mix_line(kind, groups)


def _rss_mb() -> float:
    """Resident memory now (anonymous and file pages), as ps and the kernel's OOM accounting see it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _service_rate(config: Any, redis_url: str, scorer: Any, pairs: list[tuple[str, str]], n: int) -> float:
    from redis.asyncio import Redis

    from services.classifier.service import Classifier
    from shared.schemas import FeedRef, Item
    from shared.streams import DATA_FIELD, StreamNames

    now, feed = datetime.now(UTC), FeedRef(url="http://127.0.0.1/bench.xml")
    names = StreamNames.of(config.redis)
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        pipe = redis.pipeline(transaction=False)
        for k in range(n):
            title, summary = pairs[k % len(pairs)]
            item = Item(id=f"b-{k}", feed=feed, title=title, summary=summary, fetched_at=now)
            pipe.xadd(names.items, {DATA_FIELD: item.to_json()})
        await pipe.execute()
        classifier = Classifier(config, redis, scorer, "bench")
        started = time.perf_counter()
        done = await classifier.run(asyncio.Event(), drain=True)
        elapsed = time.perf_counter() - started
        assert done == n, (done, n)
        return n / elapsed
    finally:
        await redis.aclose()


def worker(backend: str, redis_url: str, sizes: list[int], dev_set: Path | None) -> dict[str, Any]:
    """One backend in this (fresh) process: time to ready, raw encode rate, service rate at each size, peak RSS."""
    started = time.perf_counter()
    from services.classifier.rescoring import make_scorer
    from services.classifier.scoring import Scorer
    from shared.config import load_config_file

    config = load_config_file(ROOT / "config" / "tripwire.yaml", {})
    # As `tripwire classifier` builds it: the multilingual model too, so ready time and RSS are the service's.
    scorer = make_scorer(config, backend.removesuffix(PLAIN))
    if backend.endswith(PLAIN):
        scorer = Scorer(config.topics, scorer.embedder, scorer.multilingual)
    embedder = scorer.embedder
    ready = time.perf_counter() - started
    pairs, _ = _texts(dev_set, max(sizes))
    texts = [f"{t}. {s}".strip(". ") if s else t for t, s in pairs[:1000]]
    embedder.encode(texts[:64])  # warm-up, excluded
    raw, raw_cpu = 0.0, float("inf")
    for _round in range(2):
        begun, cpu = time.perf_counter(), time.process_time()
        embedder.encode(texts)
        raw = max(raw, len(texts) / (time.perf_counter() - begun))
        raw_cpu = min(raw_cpu, (time.process_time() - cpu) * 1000 / len(texts))
    rates = {}
    for n in sizes:
        cpu = time.process_time()
        rate = asyncio.run(_service_rate(config, redis_url, scorer, pairs, n))
        rates[str(n)] = {"items_s": rate, "cpu_ms_per_item": (time.process_time() - cpu) * 1000 / n}
    service_rss = _peak_rss_mb()  # English news: the multilingual model is not loaded yet (it loads lazily)
    rescored = getattr(scorer, "rescored", 0) / max(1, getattr(scorer, "scored", 0))  # of the service's items
    labeled = _labeled_scores(scorer, dev_set)  # the multilingual sets load it
    return {
        "rescored": rescored,
        "rss_now_mb": _rss_mb(),  # both models loaded, after scoring every labeled set
        "service_rss_mb": service_rss,
        "labeled": labeled,
        "backend": backend,
        "ready_s": ready,
        "raw": raw,
        "raw_cpu_ms": raw_cpu,
        "service": rates,
        "rss_mb": _peak_rss_mb(),
    }


def _labeled_scores(scorer: Any, dev_set: Path | None) -> dict[str, dict[str, list[list[float]]]]:
    """Scores of every labeled set at hand, exact and pruned, for the decision check against torch."""
    from services.classifier.evaluation import load_labeled
    from services.classifier.scoring import score_matrix

    sets = {name: ROOT / "data" / "eval" / f"{name}.jsonl" for name in LABELED_SETS}
    dev = dev_set or next((p for p in DEV_CANDIDATES if p.exists()), None)
    if dev is not None and dev.exists():
        sets["dev"] = dev
    out = {}
    for name, path in sets.items():
        items = load_labeled(path)
        # Each item in its labeled language (None: detected), as the service routes it: a text the detector calls
        # English or unknown is scored by the backend under test, the others by the multilingual model.
        texts, langs = [item.text for item in items], [item.lang for item in items]
        exact, pruned = scorer.score_texts(texts, langs), scorer.score_texts_pruned(texts, languages=langs)[0]
        out[name] = {
            "exact": score_matrix(exact).tolist(),
            "pruned": score_matrix(pruned).tolist(),
            "exact_matched": [[result.matched for result in row] for row in exact],
            "pruned_matched": [[result.matched for result in row] for row in pruned],
        }
    return out


def _decision_lines(results: list[dict[str, Any]]) -> list[str]:
    """Per backend and labeled set: decisions that differ from torch's, and the largest score difference."""
    import numpy as np

    reference = next(r for r in results if r["backend"] == "torch")["labeled"]
    lines = []
    for r in results:
        if r["backend"] == "torch":
            continue
        for name, kinds in r["labeled"].items():
            parts = []
            for kind in ("exact", "pruned"):
                ours, theirs = np.array(kinds[kind]), np.array(reference[name][kind])
                flips = int((np.array(kinds[f"{kind}_matched"]) != np.array(reference[name][f"{kind}_matched"])).sum())
                parts.append(f"{kind}: {flips} decisions differ, max |score diff| {np.abs(ours - theirs).max():.2g}")
            lines.append(f"{r['backend']} vs torch on {name} ({len(theirs)} items): " + "; ".join(parts))
    return lines


def _run_worker(backend: str, redis_url: str, sizes: tuple[int, ...], dev_set: Path | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.classifier", "--worker", backend, "--redis", redis_url]
    argv += ["--sizes", ",".join(map(str, sizes))] + (["--dev-set", str(dev_set)] if dev_set else [])
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _score_wall() -> float:
    """Wall seconds of ``tripwire score "one text"`` as a user runs it (best of 3)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("tripwire")), "score", "Russian jet intercepts US drone"],
            cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
        best = min(best, time.perf_counter() - started)
    return best


def main(arguments: list[str] | None = None) -> None:
    """Run every backend in its own process and print the figures and ratios against torch."""
    parser = argparse.ArgumentParser(prog="bench.classifier")
    parser.add_argument("--dev-set", type=Path)
    parser.add_argument("--quick", action="store_true", help="1,000 items for every backend, no 10,000 run")
    args, _ = parser.parse_known_args(arguments or [])
    from services.classifier.backends import make_embedder
    from shared.config import load_config_file
    from shared.redis_server import RedisServer

    config = load_config_file(ROOT / "config" / "tripwire.yaml", {})
    make_embedder(config)  # the default backend's ONNX file exported (once) before anything is timed
    _, source = _texts(args.dev_set)
    results = []
    with RedisServer(appendonly=False) as server:
        for backend in BACKENDS:
            sizes = DEFAULT_SIZES if backend == config.classifier.backend and not args.quick else SIZES
            results.append(_run_worker(backend, server.url, sizes, args.dev_set))
    score_wall = _score_wall()
    torch_raw = next(r["raw"] for r in results if r["backend"] == "torch")
    print(f"texts: {source}; batch size {config.classifier.batch_size}; each backend in its own process")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the machine may be shared)")
    torch_cpu = next(r["raw_cpu_ms"] for r in results if r["backend"] == "torch")
    print("raw: one encode call over 1,000 texts, best of 2; service: 1,000 items drained through the classifier")
    print("RSS MB: peak after the service runs (English news); +USE-m3: after the multilingual sets, both models held")
    head = f"{'backend':11}{'ready s':>8}{'raw/s':>8}{'vs torch':>9}{'raw CPU ms':>11}{'vs torch':>9}"
    print(head + f"{'service/s':>10}{'/own raw':>9}{'CPU ms':>8}{'RSS MB':>8}{'+USE-m3':>8}")
    for r in results:
        one = r["service"]["1000"]
        mark = " (default)" if r["backend"] == config.classifier.backend else ""
        print(
            f"{r['backend']:11}{r['ready_s']:8.1f}{r['raw']:8.1f}{r['raw'] / torch_raw:9.2f}{r['raw_cpu_ms']:11.1f}"
            f"{torch_cpu / r['raw_cpu_ms']:9.2f}{one['items_s']:10.1f}{one['items_s'] / r['raw']:9.2f}"
            f"{one['cpu_ms_per_item']:8.1f}{r['service_rss_mb']:8.0f}{r['rss_mb']:8.0f}{mark}"
        )
    default = next(r for r in results if r["backend"] == config.classifier.backend)
    if "10000" in default["service"]:
        small, big = default["service"]["1000"], default["service"]["10000"]
        print(
            f"{default['backend']}: 1,000 / 10,000 items: {small['items_s']:.1f} / {big['items_s']:.1f} items/s, "
            f"{small['cpu_ms_per_item']:.1f} / {big['cpu_ms_per_item']:.1f} ms CPU per item "
            f"(ratio {big['cpu_ms_per_item'] / small['cpu_ms_per_item']:.2f})"
        )
    for line in _decision_lines(results):
        print(line)
    plain = next(r for r in results if r["backend"] == config.classifier.backend + PLAIN)
    ours, theirs = default["service"]["1000"]["items_s"], plain["service"]["1000"]["items_s"]
    print(
        f"{default['backend']} with fp32 re-scoring: {default['rescored']:.1%} of the service's items re-scored; "
        f"service {ours:.1f} items/s against plain int8 {theirs:.1f} ({ours / theirs:.2f}x) "
        f"and torch's raw encode {torch_raw:.1f} ({ours / torch_raw:.2f}x)"
    )
    for r, what in ((plain, "MiniLM int8 + USE-m3"), (default, "MiniLM int8 + USE-m3 + the fp32 re-scoring session")):
        verdict = "under" if r["rss_now_mb"] < RSS_TARGET_MB else "OVER"
        print(
            f"classifier RSS, {what}, after every labeled set: {r['rss_now_mb']:.0f} MB now, "
            f"{r['rss_mb']:.0f} MB peak; target {RSS_TARGET_MB} MB: {verdict}"
        )
    print(f"default backend service / raw torch encode: {default['service']['1000']['items_s'] / torch_raw:.2f}x")
    print(f'tripwire score "one text" (default backend, cached file): {score_wall:.2f} s wall (best of 3)')


if __name__ == "__main__":
    if "--worker" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--worker")
        parser.add_argument("--redis")
        parser.add_argument("--sizes")
        parser.add_argument("--dev-set", type=Path)
        ns = parser.parse_args()
        sizes = [int(s) for s in ns.sizes.split(",")]
        print(json.dumps(worker(ns.worker, ns.redis, sizes, ns.dev_set)))
    else:
        main(sys.argv[1:])

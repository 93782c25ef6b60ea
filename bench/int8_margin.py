"""bench/int8_margin: the largest |int8 - fp32| score on every labeled set, which sets rescoring.RESCORE_MARGIN.

Every set in data/eval/ and the dev set (``../shared/data/dev.jsonl`` beside the repo, or the first argument) is
scored by the int8 and the fp32 ONNX model (plain scorers, no re-scoring), as the service scores (pruned) and
with every sentence (exact); each in its labeled language, so the multilingual model scores the same texts in
both. Prints per set and mode the largest and 99th-percentile difference and the decisions that differ, then
the overall largest against ``MEASURED_MAX_DIFF`` and ``RESCORE_MARGIN``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dev.jsonl"


def main(argv: list[str] | None = None) -> None:
    """Score every labeled set with both models and print the differences."""
    from services.classifier.backends import make_embedder
    from services.classifier.evaluation import load_labeled
    from services.classifier.rescoring import MEASURED_MAX_DIFF, RESCORE_MARGIN
    from services.classifier.routing import multilingual_embedder
    from services.classifier.scoring import Scorer, score_matrix, threshold_matrix
    from shared.config import load_config_file

    config = load_config_file(ROOT / "config" / "tripwire.yaml", {})
    multilingual = multilingual_embedder(config.classifier)
    int8 = Scorer(config.topics, make_embedder(config, "onnx-int8"), multilingual)
    fp32 = Scorer(config.topics, make_embedder(config, "onnx"), multilingual)
    sets = {path.stem: path for path in sorted((ROOT / "data" / "eval").glob("*.jsonl"))}
    paths = [arg for arg in argv or [] if not arg.startswith("-")]  # `make bench` may pass options such as --quick
    dev = Path(paths[0]) if paths else DEV
    if dev.is_file():
        sets["dev"] = dev
    largest = 0.0
    for name, path in sets.items():
        items = load_labeled(path)
        texts, langs = [item.text for item in items], [item.lang for item in items]
        for mode in ("pruned", "exact"):
            if mode == "pruned":
                ours, theirs = (
                    int8.score_texts_pruned(texts, languages=langs)[0],
                    fp32.score_texts_pruned(texts, languages=langs)[0],
                )
            else:
                ours, theirs = int8.score_texts(texts, langs), fp32.score_texts(texts, langs)
            a, b, t = score_matrix(ours), score_matrix(theirs), threshold_matrix(theirs)
            diff = np.abs(a - b)
            flips = int(((a >= t) != (b >= t)).sum())
            largest = max(largest, float(diff.max()))
            print(
                f"{name:22} {mode:6} {len(items):4} items: max |int8 - fp32| {diff.max():.4f}, "
                f"99th percentile {np.quantile(diff, 0.99):.4f}, {flips} decisions differ"
            )
    print(f"largest {largest:.4f}; rescoring.MEASURED_MAX_DIFF {MEASURED_MAX_DIFF}, RESCORE_MARGIN {RESCORE_MARGIN}")


if __name__ == "__main__":
    main(sys.argv[1:])

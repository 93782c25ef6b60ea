"""The embedding backends: ONNX gives torch's alerts, its file is exported once, checked by hash, rebuilt when bad."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.classifier import onnx_export
from services.classifier.batch_scoring import score_in_reads
from services.classifier.embedder import Embedder, packaged_model_path
from services.classifier.evaluation import load_labeled
from services.classifier.onnx_embedder import OnnxEmbedder, token_batches
from services.classifier.onnx_export import OnnxModelError, ensure_onnx, file_sha256
from services.classifier.scoring import Scorer, score_matrix
from shared.config import TripwireConfig
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.model
MODEL_DIR = Path(packaged_model_path())


def _decisions_and_scores(
    embedder: Embedder, config: TripwireConfig, texts: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    scores = score_matrix(Scorer(config.topics, embedder).score_texts(texts))
    thresholds = np.array([topic.threshold for topic in config.topics.values()])
    return scores >= thresholds, scores


@pytest.fixture(scope="module")
def fp32_embedder(default_config: TripwireConfig) -> Embedder:
    """The fp32 ONNX backend: torch's embeddings to 1e-6."""
    from services.classifier.backends import make_embedder

    return make_embedder(default_config, "onnx")


def test_default_backend_gives_torchs_decisions_on_the_eval_set(
    embedder: Embedder, torch_embedder: Embedder, default_config: TripwireConfig
) -> None:
    # int8, each text alone: the same alerts as torch on every labeled set (bench/classifier checks the dev and
    # multilingual sets too), scores within a few hundredths (README, Performance, "Embedding backends").
    assert default_config.classifier.backend == "onnx-int8"
    texts = [item.text for item in load_labeled(REPO_ROOT / "data" / "eval" / "topics.jsonl")]
    ours, our_scores = _decisions_and_scores(embedder, default_config, texts)
    theirs, their_scores = _decisions_and_scores(torch_embedder, default_config, texts)
    assert (ours == theirs).all()
    thresholds = np.array([topic.threshold for topic in default_config.topics.values()])
    near = np.abs(their_scores - thresholds) < 0.2  # far below, a score clipped at 0 can move more, harmlessly
    assert np.abs(our_scores - their_scores)[near].max() < 0.1
    vectors, reference = embedder.encode(texts), torch_embedder.encode(texts)
    assert np.abs(np.linalg.norm(vectors, axis=1) - 1).max() < 1e-5
    assert (1 - (vectors * reference).sum(axis=1)).max() < 0.02


def test_fp32_backend_gives_torchs_decisions_and_scores_on_the_eval_set(
    fp32_embedder: Embedder, torch_embedder: Embedder, default_config: TripwireConfig
) -> None:
    texts = [item.text for item in load_labeled(REPO_ROOT / "data" / "eval" / "topics.jsonl")]
    ours, our_scores = _decisions_and_scores(fp32_embedder, default_config, texts)
    theirs, their_scores = _decisions_and_scores(torch_embedder, default_config, texts)
    assert (ours == theirs).all()
    assert np.abs(our_scores - their_scores).max() < 1e-4
    vectors, reference = fp32_embedder.encode(texts), torch_embedder.encode(texts)
    assert (1 - (vectors * reference).sum(axis=1)).max() < 1e-5


def test_long_texts_are_truncated_at_256_tokens_as_sentence_transformers_does(
    fp32_embedder: Embedder, torch_embedder: Embedder
) -> None:
    long_text = " ".join(["Russian and US convoys met near Derik before dawn."] * 60)  # ~700 tokens
    short = "A joint patrol on the M4 highway."
    got, want = fp32_embedder.encode([short, long_text]), torch_embedder.encode([short, long_text])
    assert (1 - (got * want).sum(axis=1)).max() < 1e-5


def test_batched_read_scoring_gives_the_exact_decisions(embedder: Embedder, default_config: TripwireConfig) -> None:
    scorer = Scorer(default_config.topics, embedder)
    texts = [item.text for item in load_labeled(REPO_ROOT / "data" / "eval" / "topics.jsonl")]
    seen: list[int] = []
    pruned = score_in_reads(scorer, texts, 50, seen.append)
    exact = scorer.score_texts(texts)
    assert seen == [50, 50, 50, len(texts) - 150]
    assert [[r.matched for r in row] for row in pruned] == [[r.matched for r in row] for row in exact]


@pytest.mark.slow
def test_onnx_file_is_built_once_checked_and_rebuilt_when_corrupt(
    tmp_path: Path, fp32_embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    built = ensure_onnx(MODEL_DIR, "fp32", tmp_path)
    manifest = json.loads((built.path.parent / "manifest.json").read_text())
    assert manifest["sha256"] == file_sha256(built.path) == built.sha256
    assert manifest["source"] == str(MODEL_DIR)
    mtime = built.path.stat().st_mtime_ns
    assert ensure_onnx(MODEL_DIR, "fp32", tmp_path).path.stat().st_mtime_ns == mtime  # cached: not rebuilt

    _flip_middle_byte(built.path)  # one flipped byte in the weights
    with pytest.raises(OnnxModelError, match="tripwire model build"):
        ensure_onnx(MODEL_DIR, "fp32", tmp_path, build=False)
    rebuilt = ensure_onnx(MODEL_DIR, "fp32", tmp_path)
    assert file_sha256(rebuilt.path) == rebuilt.sha256 == manifest["sha256"]  # the export is deterministic
    text = ["US and Russian convoys blocked each other near Qamishli."]
    assert np.allclose(OnnxEmbedder(rebuilt).encode(text), fp32_embedder.encode(text), atol=1e-6)

    # The word table beside the file is vouched for by the same manifest: a flipped byte there is caught too.
    assert manifest["word_table_sha256"] == file_sha256(rebuilt.word_table)
    _flip_middle_byte(rebuilt.word_table)
    with pytest.raises(OnnxModelError, match="corrupt"):
        ensure_onnx(MODEL_DIR, "fp32", tmp_path, build=False)
    assert file_sha256(ensure_onnx(MODEL_DIR, "fp32", tmp_path).word_table) == manifest["word_table_sha256"]


def _flip_middle_byte(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.slow
def test_a_missing_file_is_built_without_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fp32_embedder: Embedder
) -> None:
    for name in ("torch", "transformers", "sentence_transformers"):
        monkeypatch.setitem(sys.modules, name, None)  # importing any of them now raises ImportError
    built = ensure_onnx(MODEL_DIR, "int8", tmp_path)
    assert json.loads((built.path.parent / "manifest.json").read_text())["sha256"] == file_sha256(built.path)
    text = ["US and Russian convoys blocked each other near Qamishli."]
    assert (OnnxEmbedder(built).encode(text) @ fp32_embedder.encode(text).T)[0, 0] > 0.98


def test_cache_key_changes_with_the_model_files_and_the_exporter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns("*.safetensors"))
    key = onnx_export.cache_key(model, "fp32")
    assert onnx_export.cache_key(model, "int8") != key
    (model / "config.json").write_text((model / "config.json").read_text() + " ")
    assert onnx_export.cache_key(model, "fp32") != key
    changed = onnx_export.cache_key(model, "fp32")
    monkeypatch.setattr(onnx_export, "EXPORT_VERSION", onnx_export.EXPORT_VERSION + 1)
    assert onnx_export.cache_key(model, "fp32") != changed


def test_an_unknown_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match="fp16"):
        ensure_onnx(MODEL_DIR, "fp16", tmp_path)


@pytest.mark.slow
def test_int8_stays_within_two_hundredths_of_torch_in_cosine(
    default_config: TripwireConfig, torch_embedder: Embedder
) -> None:
    from services.classifier.backends import make_embedder

    texts = [item.text for item in load_labeled(REPO_ROOT / "data" / "eval" / "topics.jsonl")][:40]
    got, want = make_embedder(default_config, "onnx-int8").encode(texts), torch_embedder.encode(texts)
    assert (1 - (got * want).sum(axis=1)).max() < 0.02


def test_model_build_prints_the_checked_file(capsys: pytest.CaptureFixture[str], embedder: Embedder) -> None:
    from tripwire.cli import main

    assert main(["model", "build", "--config", str(REPO_ROOT / "config" / "tripwire.yaml")]) == 0
    assert f"onnx-int8: {embedder.model.path} (sha256 {embedder.model.sha256})" in capsys.readouterr().out  # type: ignore[attr-defined]


def test_commands_import_no_model_runtime() -> None:
    heavy = ("torch", "onnxruntime", "sentence_transformers", "transformers", "tokenizers", "matplotlib")
    probe = f"import sys, tripwire.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("lengths", [[3], [300, 2, 2, 2], [40] * 100, [5, 120, 60, 7, 256, 1, 33] * 9])
def test_token_batches_hold_every_row_once_longest_first_within_the_budget(lengths: list[int]) -> None:
    batches = list(token_batches(lengths, batch_size=32, budget=512))
    rows = [int(row) for batch in batches for row in batch]
    assert sorted(rows) == list(range(len(lengths)))  # every text exactly once
    assert [lengths[row] for row in rows] == sorted(lengths, reverse=True)
    for batch in batches:  # a batch's first text sets its padded width
        assert len(batch) <= 32 and (len(batch) == 1 or len(batch) * lengths[batch[0]] <= 512)


@pytest.mark.parametrize(("backend", "tolerance"), [("onnx", 1e-5), ("onnx-int8", 1e-6)])
def test_a_texts_embedding_does_not_depend_on_the_texts_read_with_it(
    default_config: TripwireConfig, backend: str, tolerance: float
) -> None:
    # An item scores the same whatever else arrived in its read. fp32 batches move it by rounding only; int8 runs
    # each text alone, because batched, dynamic quantisation takes one activation scale for the whole batch and a
    # text's embedding moved with its neighbours (1 - cos up to 0.011).
    from services.classifier.backends import make_embedder

    model = make_embedder(default_config, backend)
    texts = [item.text for item in load_labeled(REPO_ROOT / "data" / "eval" / "topics.jsonl")][:24]
    alone = np.stack([model.encode([text])[0] for text in texts])
    assert np.allclose(alone, model.encode(texts), atol=tolerance)

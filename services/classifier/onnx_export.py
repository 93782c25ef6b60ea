"""The ONNX files of the packaged sentence model: built once from the local model folder, cached, checked by hash.

A file is written from the model folder on disk (never from a hub) by services/classifier/bert_graph.py: the
transformer plus mean pooling and L2 normalisation as ONNX operators, with the weights read from the folder's
safetensors file, so the graph's output is the sentence embedding sentence-transformers gives, and building it needs
onnx alone, not torch (a `pip install .` has everything it takes). The int8 variant is onnxruntime's dynamic
quantisation with one scale per output channel of each weight matrix (per-tensor scales moved embeddings ~5x more).
Beside each ``model.onnx`` lies ``word_table.npy``, the word embeddings the graph takes its ``word_vectors`` input
from (bert_graph.py: read by rows, so the table stays out of RSS). Files live under
``<cache>/<model>-<variant>-<key>/``, where the key hashes the model folder's files (names, sizes,
modification times), the variant and ``EXPORT_VERSION`` (bumped with the graph or the pinned onnx/onnxruntime): a
new model or exporter gives a new file, never a stale one. Library versions stay out of the key so a runtime finds
a file built elsewhere (the Docker image's cache); the manifest beside the files records them and each file's
SHA-256. A file whose hash no longer matches (a torn write, a disk fault, an edit) is logged and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.classifier.bert_graph import WeightsError, build_model, word_table
from services.classifier.embedder import ModelError
from shared.logging import get_logger

# Bump when the exported graph changes (inputs, outputs, pooling, opset, quantisation settings).
# 2: the graph written from the safetensors weights with onnx (bert_graph.py) instead of torch.onnx.export.
# 3: the word embeddings out of the graph, in word_table.npy beside it (input word_vectors instead of input_ids).
EXPORT_VERSION = 3
OPSET = 17
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
VARIANTS = ("fp32", "int8")
MANIFEST = "manifest.json"
WORD_TABLE_FILE = "word_table.npy"
log = get_logger(__name__)


class OnnxModelError(ModelError):
    """An ONNX model file that cannot be found, checked or built; the message says what to do."""


@dataclass(frozen=True)
class OnnxModel:
    """A checked ONNX file, its word table and the model folder it came from (which holds the tokenizer)."""

    path: Path
    model_dir: Path
    sha256: str

    @property
    def word_table(self) -> Path:
        """The word embeddings the graph's ``word_vectors`` input is gathered from (checked with the file)."""
        return self.path.parent / WORD_TABLE_FILE


def cache_key(model_dir: Path, variant: str) -> str:
    """What the file depends on: the model folder's files, the variant and this exporter's version."""
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    parts = [f"{p.relative_to(model_dir)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    parts += [f"variant={variant}", f"export={EXPORT_VERSION}", f"opset={OPSET}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def ensure_onnx(model_dir: Path, variant: str, cache_root: Path, *, build: bool = True) -> OnnxModel:
    """The checked ONNX file of ``model_dir`` in ``variant``: from the cache, or built (and cached) when missing."""
    if variant not in VARIANTS:
        raise OnnxModelError(f"ONNX variant {variant!r} is not one of {', '.join(VARIANTS)}")
    folder = cache_root / f"{model_dir.name}-{variant}-{cache_key(model_dir, variant)}"
    model, problem = _checked(folder)
    if model is not None:
        return OnnxModel(model[0], model_dir, model[1])
    if not build:
        raise OnnxModelError(f"{folder / 'model.onnx'} is {problem}; build it with `tripwire model build`")
    return _build(model_dir, variant, folder, problem)


def _checked(folder: Path) -> tuple[tuple[Path, str] | None, str]:
    """(the cached file and its hash, "") if it and its word table are present and intact, else (None, what is
    wrong); corrupt is logged."""
    manifest_path, model_path, table_path = folder / MANIFEST, folder / "model.onnx", folder / WORD_TABLE_FILE
    if not manifest_path.exists() or not model_path.exists() or not table_path.exists():
        return None, "missing"
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = (manifest["sha256"], manifest["word_table_sha256"])
    except (ValueError, KeyError, TypeError, OSError):
        expected = (None, None)
    for path, want in zip((model_path, table_path), expected, strict=True):
        actual = file_sha256(path)
        if want != actual:
            log.warning("onnx_cache_corrupt", path=str(path), expected=want, actual=actual, action="rebuild")
            return None, "corrupt (its SHA-256 does not match its manifest)"
    return (model_path, expected[0]), ""


def _build(model_dir: Path, variant: str, folder: Path, problem: str) -> OnnxModel:
    try:
        import onnx  # noqa: F401  # a runtime dependency (pyproject.toml); checked so a broken install says so
    except ImportError as exc:
        # Never a fallback to another backend or an unchecked file: that would change the scores unnoticed.
        raise OnnxModelError(
            f"{folder / 'model.onnx'} (classifier.model_cache, {variant}) is {problem}, and building it needs the "
            f"onnx package, which does not import here ({exc}); reinstall Tripwire's dependencies "
            "(docs/install.md), or copy in a model cache built from this same installed model folder "
            f"({model_dir}; the folder name's key hashes its files' names, sizes and modification times)"
        ) from None
    log.info("onnx_building", model=str(model_dir), variant=variant, into=str(folder))
    try:
        return _export_into(model_dir, variant, folder)
    except WeightsError as exc:
        raise OnnxModelError(f"cannot build {folder / 'model.onnx'}: {exc}") from None
    except OSError as exc:
        raise OnnxModelError(
            f"cannot write the ONNX file into {folder} ({exc.strerror}); make classifier.model_cache writable "
            "or point it at a writable folder"
        ) from None


def _export_into(model_dir: Path, variant: str, folder: Path) -> OnnxModel:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        export_fp32(model_dir, fp32)
        made = fp32
        if variant == "int8":
            made = Path(scratch) / "int8.onnx"
            quantize_int8(fp32, made)
        table = Path(scratch) / WORD_TABLE_FILE
        words = word_table(model_dir)
        np.save(table, quantised_word_table(words) if variant == "int8" else words)
        digest, table_digest = file_sha256(made), file_sha256(table)
        # The files first, then the manifest that vouches for them: a crash in between leaves files without a
        # manifest, which the next start rebuilds. os.replace is atomic, so a reader never sees half a file.
        os.replace(table, folder / WORD_TABLE_FILE)
        os.replace(made, folder / "model.onnx")
        manifest = {
            "sha256": digest,
            "word_table_sha256": table_digest,
            "variant": variant,
            "source": str(model_dir),
            "export_version": EXPORT_VERSION,
            "versions": {name: _version(name) for name in ("onnx", "onnxruntime")},
        }
        tmp_manifest = Path(scratch) / MANIFEST
        tmp_manifest.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp_manifest, folder / MANIFEST)
    log.info("onnx_built", path=str(folder / "model.onnx"), sha256=digest)
    return OnnxModel(folder / "model.onnx", model_dir, digest)


def export_fp32(model_dir: Path, out: Path) -> None:
    """Write transformer + mean pooling + normalisation of the local folder to ``out`` (fp32, dynamic shapes)."""
    import onnx

    model = build_model(model_dir, OPSET)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def quantize_int8(fp32: Path, out: Path) -> None:
    """onnxruntime's dynamic int8 quantisation, one scale per output channel (weights int8, activations at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs through the root logger: a line per tensor at INFO ("Quantization parameters for tensor
    # ... not specified", ~100 lines) and advice about pre-processing that a dynamic quantisation does not need.
    # Ours logs the build and its result; these are held back for the call's length (errors still pass).
    root = logging.getLogger()
    root.addFilter(_quantiser_chatter)
    try:
        quantize_dynamic(str(fp32), str(out), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(_quantiser_chatter)


def quantised_word_table(table: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The word embeddings as the int8 model has always used them.

    While the lookup was in the graph, onnxruntime's dynamic quantiser stored this table as uint8 with one scale and
    zero point (asymmetric, full range: ``quantize_data``, the routine it used) and the graph dequantised each row
    it gathered, ``(q - zero point) * scale`` in float32, as DequantizeLinear does. The table is stored here
    dequantised the same way, so the int8 model gives the embeddings it gave before the lookup left the graph
    (its int8-fp32 differences, which set rescoring.RESCORE_MARGIN, are unchanged). Fed the fp32 table instead,
    the int8 model moved further from fp32 on the labeled sets (largest difference 0.091 against 0.078 pruned),
    and one decision differed.
    """
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    zero, scale, quantised = quantize_data(table.ravel(), TensorProto.UINT8, False, False)
    rows: npt.NDArray[np.float32] = (quantised.astype(np.int32) - np.int32(zero.item())).astype(np.float32)
    rows *= np.float32(scale.item())
    return rows.reshape(table.shape)


def _quantiser_chatter(record: logging.LogRecord) -> bool:
    """False (drop) for onnxruntime.quantization's own records below ERROR."""
    return record.levelno >= logging.ERROR or "onnxruntime" not in Path(record.pathname).parts


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"

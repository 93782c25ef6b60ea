"""The ONNX files of the packaged sentence model: built once from the local model folder, cached, checked by hash.

A file is written from the model folder on disk (never from a hub) by services/classifier/bert_graph.py: the
transformer plus mean pooling and L2 normalisation as ONNX operators, with the weights read from the folder's
safetensors file, so the graph's output is the sentence embedding sentence-transformers gives, and building it needs
onnx alone, not torch (a `pip install .` has everything it takes). The int8 variant is onnxruntime's dynamic
quantisation with one scale per output channel of each weight matrix (per-tensor scales moved embeddings ~5x more).
Files live under ``<cache>/<model>-<variant>-<key>/``, where the key hashes the model folder's files (names, sizes,
modification times), the variant and ``EXPORT_VERSION`` (bumped with the graph or the pinned onnx/onnxruntime): a
new model or exporter gives a new file, never a stale one. Library versions stay out of the key so a runtime finds
a file built elsewhere (the Docker image's cache); the manifest beside each file records them and the file's
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

from services.classifier.bert_graph import WeightsError, build_model
from services.classifier.embedder import ModelError
from shared.logging import get_logger

# Bump when the exported graph changes (inputs, outputs, pooling, opset, quantisation settings).
# 2: the graph written from the safetensors weights with onnx (bert_graph.py) instead of torch.onnx.export.
EXPORT_VERSION = 2
OPSET = 17
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
VARIANTS = ("fp32", "int8")
MANIFEST = "manifest.json"
log = get_logger(__name__)


class OnnxModelError(ModelError):
    """An ONNX model file that cannot be found, checked or built; the message says what to do."""


@dataclass(frozen=True)
class OnnxModel:
    """A checked ONNX file and the model folder it came from (which holds the tokenizer)."""

    path: Path
    model_dir: Path
    sha256: str


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
    """(the cached file and its hash, "") if present and intact, else (None, what is wrong); corrupt is logged."""
    manifest_path, model_path = folder / MANIFEST, folder / "model.onnx"
    if not manifest_path.exists() or not model_path.exists():
        return None, "missing"
    try:
        expected = json.loads(manifest_path.read_text())["sha256"]
    except (ValueError, KeyError, OSError):
        expected = None
    actual = file_sha256(model_path)
    if expected != actual:
        log.warning("onnx_cache_corrupt", path=str(model_path), expected=expected, actual=actual, action="rebuild")
        return None, "corrupt (its SHA-256 does not match its manifest)"
    return (model_path, actual), ""


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
        digest = file_sha256(made)
        # The file first, then the manifest that vouches for it: a crash in between leaves a file without a
        # manifest, which the next start rebuilds. os.replace is atomic, so a reader never sees half a file.
        os.replace(made, folder / "model.onnx")
        manifest = {
            "sha256": digest,
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

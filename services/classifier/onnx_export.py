"""The ONNX files of the packaged sentence model: exported once from the local model folder, cached, checked by hash.

A file is made from the model folder on disk (never from a hub) with ``torch.onnx.export`` of the transformer plus
mean pooling and L2 normalisation, so the graph's output is the sentence embedding sentence-transformers gives;
the int8 variant is onnxruntime's dynamic quantisation with one scale per output channel of each weight matrix
(per-tensor scales moved embeddings ~5x more). Files live under ``<cache>/<model>-<variant>-<key>/``, where the
key hashes the model folder's files (names, sizes, modification times), the variant and ``EXPORT_VERSION``
(bumped with the exporter or the pinned torch/onnxruntime): a new model or exporter gives a new file, never a
stale one. Library versions stay out of the key so a runtime without torch finds a file built elsewhere; the
manifest beside each file records them and the file's SHA-256. A file whose hash no longer matches (a torn
write, a disk fault, an edit) is logged and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from services.classifier.embedder import TORCH_EXTRA, ModelError
from shared.logging import get_logger

# Bump when the exported graph changes (inputs, outputs, pooling, opset, quantisation settings).
EXPORT_VERSION = 1
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
        raise OnnxModelError(
            f"{folder / 'model.onnx'} is {problem}; build it with `tripwire model build` (needs {TORCH_EXTRA})"
        )
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
    missing = _missing_export_modules()
    if missing:
        # Never a fallback to another backend or an unchecked file: that would change the scores unnoticed.
        raise OnnxModelError(
            f"{folder / 'model.onnx'} (classifier.model_cache, {variant}) is {problem}, and exporting it needs "
            f"{', '.join(missing)}, not installed here. Either install the export with {TORCH_EXTRA} and run "
            "`tripwire model build` (once; the file is kept), or copy in a model cache built from this same "
            f"installed model folder ({model_dir}; the folder name's key hashes its files' names, sizes and "
            "modification times), as the Docker image does"
        )
    log.info("onnx_building", model=str(model_dir), variant=variant, into=str(folder))
    try:
        return _export_into(model_dir, variant, folder)
    except OSError as exc:
        raise OnnxModelError(
            f"cannot write the ONNX file into {folder} ({exc.strerror}); make classifier.model_cache writable "
            "or point it at a writable folder"
        ) from None


def _missing_export_modules() -> list[str]:
    """The export's modules (the torch extra) that cannot be imported here."""
    missing = []
    for name in ("torch", "transformers", "onnx"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


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
            "versions": {name: _version(name) for name in ("torch", "onnx", "onnxruntime")},
        }
        tmp_manifest = Path(scratch) / MANIFEST
        tmp_manifest.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp_manifest, folder / MANIFEST)
    log.info("onnx_built", path=str(folder / "model.onnx"), sha256=digest)
    return OnnxModel(folder / "model.onnx", model_dir, digest)


def export_fp32(model_dir: Path, out: Path) -> None:
    """Export transformer + mean pooling + normalisation from the local folder to ``out`` (fp32, dynamic shapes)."""
    import torch
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformer = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    wrapper = _pooled(transformer)
    sample = torch.ones((2, 8), dtype=torch.int64)
    # A padded row in the sample: with an all-ones mask the tracer may record the "no padding" shortcut as a
    # constant, and every padded batch would then attend to its padding.
    mask = torch.ones_like(sample)
    mask[1, 5:] = 0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes taken as constants: checked by the tests
        torch.onnx.export(
            wrapper,
            (sample, mask, torch.zeros_like(sample)),
            str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
            | {"sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(fp32: Path, out: Path) -> None:
    """onnxruntime's dynamic int8 quantisation, one scale per output channel (weights int8, activations at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), per_channel=True, weight_type=QuantType.QInt8)


def _pooled_class() -> Any:
    import torch

    class Pooled(torch.nn.Module):
        """The transformer called with keyword arguments (positional calls clash with ``use_cache``), then pooled."""

        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return Pooled


def _pooled(transformer: Any) -> Any:
    return _pooled_class()(transformer)


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

"""Which embedding backend a classifier runs: one registry, one entry per backend, each loaded only when picked.

A backend is a function from the classifier settings and the model cache folder to an ``Embedder``; a new one
(another model, another runtime) is one more entry in ``BACKENDS`` and one more name in
``shared.config.topics.BackendName``. Every import of a runtime happens inside its entry, so a command that never
embeds never loads torch or onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.classifier.embedder import Embedder, packaged_model_path
from shared.config import ClassifierSettings, TripwireConfig

BackendFactory = Callable[[ClassifierSettings, Path], Embedder]


def _torch(settings: ClassifierSettings, cache: Path) -> Embedder:
    from services.classifier.embedder import SentenceEmbedder

    return SentenceEmbedder(settings.model_path, settings.batch_size)


def _onnx(variant: str) -> BackendFactory:
    def load(settings: ClassifierSettings, cache: Path) -> Embedder:
        from services.classifier.onnx_embedder import OnnxEmbedder
        from services.classifier.onnx_export import ensure_onnx

        model_dir = Path(settings.model_path).expanduser() if settings.model_path else Path(packaged_model_path())
        model = ensure_onnx(model_dir, variant, cache)
        return OnnxEmbedder(model, settings.batch_size, per_text=variant == "int8")

    return load


BACKENDS: dict[str, BackendFactory] = {
    "torch": _torch,  # sentence-transformers on torch: the reference the others are measured against
    "onnx": _onnx("fp32"),  # the same fp32 weights on onnxruntime: the same scores, faster, no torch at run time
    "onnx-int8": _onnx("int8"),  # int8 per-channel weights: faster still, scores move by up to a few hundredths
}


def model_cache(config: TripwireConfig) -> Path:
    """Where exported model files are kept (``classifier.model_cache``, ``~`` expanded)."""
    return config.classifier.model_cache.expanduser()


def make_embedder(config: TripwireConfig, backend: str | None = None, batch_size: int | None = None) -> Embedder:
    """The embedder ``classifier.backend`` (or ``backend``) names, loaded from disk."""
    settings = config.classifier
    if batch_size is not None:
        settings = settings.model_copy(update={"batch_size": batch_size})
    return BACKENDS[backend or settings.backend](settings, model_cache(config))

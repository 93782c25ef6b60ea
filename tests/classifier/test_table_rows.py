"""Tables read row by row from the model cache (shared/table_rows.py): the rows a matrix gives, and language
detection with py3langid's table read that way answering exactly as py3langid does (issue 27, memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.language_model import PackedStates, load_identifier
from shared.table_rows import TableRows, cached_table


@pytest.mark.parametrize("dtype", [np.uint8, np.float16])
def test_rows_are_the_matrix_rows(tmp_path: Path, dtype: type) -> None:
    matrix = (np.arange(40 * 7) % 251).reshape(40, 7).astype(dtype)
    rows = cached_table(tmp_path, "t", "v1", matrix)
    for ids in (np.array([3, 0, 39, 3]), np.array([[1, 2], [2, 1]]), np.array([], dtype=np.int64)):
        got = rows[ids]
        assert got.dtype == matrix.dtype and np.array_equal(got, matrix[ids])
    with pytest.raises(IndexError):
        rows[np.array([40])]


def test_the_copy_is_written_once_per_key(tmp_path: Path) -> None:
    matrix = np.ones((4, 3), dtype=np.float16)
    first, again = cached_table(tmp_path, "t", "v1", matrix), cached_table(tmp_path, "t", "v1", matrix)
    assert first.path == again.path and len(list(tmp_path.iterdir())) == 1
    assert cached_table(tmp_path, "t", "v2", matrix).path != first.path  # a new model version: a new file
    with pytest.raises(ValueError):
        TableRows(first.path, (4, 3), np.uint8)  # a file of another dtype is refused, not misread


def test_detection_from_the_cached_table_answers_as_py3langid(tmp_path: Path) -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    stock = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    texts = [
        "US and Russian convoys in stand-off near Derik as armoured vehicles block the road.",
        "Противостояние американской и российской колонн у Дерика.",
        "مواجهة بين رتل أمريكي ودورية روسية قرب ديريك",
        "Derik yakınlarında ABD ve Rus konvoyları karşı karşıya geldi.",
        "Li nêzî Dêrikê konvoyên Amerîka û Rûsyayê rûbirûyî hev bûn.",
        "ڕێککەوتنی نێوان هەردوو لایەن لە هەولێر واژۆ کرا",
        "US jet",
        "",
        "12345 !!!",
    ]
    # The first load writes the feature table's copy; the second reads it without loading the table; without a
    # cache folder the table stays in memory. Each answers as py3langid's own loader does.
    for folder in (tmp_path, tmp_path, None):
        compact = load_identifier(folder)
        assert isinstance(compact.nb_ptc, TableRows) == (folder is not None)
        assert isinstance(compact.tk_nextmove, PackedStates)
        for text in texts:
            assert compact.classify(text) == stock.classify(text), text  # language and confidence, to the bit


def test_an_empty_copy_is_written_again_and_copies_are_readable_by_all(tmp_path: Path) -> None:
    # A power cut after the rename could leave an empty file under the name (no fsync then): every start failed with
    # EOFError. The copy is now written again; and it is 0644, like the ONNX files beside it, for a second user.
    table = np.arange(12, dtype=np.uint8).reshape(4, 3)
    first = cached_table(tmp_path, "t", "key", table)
    first.path.write_bytes(b"")
    again = cached_table(tmp_path, "t", "key", table)
    assert np.array_equal(again[np.array([3, 0])], table[[3, 0]])
    assert again.path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [again.path.name]  # no temporary file left


def test_a_table_opens_with_the_shape_and_dtype_its_file_says(tmp_path: Path) -> None:
    table = np.arange(30, dtype=np.float32).reshape(10, 3)
    np.save(tmp_path / "words.npy", table)
    rows = TableRows.open(tmp_path / "words.npy")
    assert rows.shape == (10, 3) and rows.dtype == np.float32
    assert np.array_equal(rows[np.array([[9, 0], [0, 4]])], table[[[9, 0], [0, 4]]])
    np.save(tmp_path / "flat.npy", np.arange(5))
    with pytest.raises(ValueError, match="2-D"):
        TableRows.open(tmp_path / "flat.npy")


def test_packed_states_read_back_every_state_number_below_2_17() -> None:
    from array import array

    states = array("I", [0, 1, 65535, 65536, 65537, 104_582, (1 << 17) - 1, 7, 131_000])
    packed = PackedStates(states)
    assert len(packed) == len(states) and [packed[n] for n in range(len(states))] == list(states)
    with pytest.raises(ValueError, match="17 bits"):
        PackedStates(array("I", [1 << 17]))

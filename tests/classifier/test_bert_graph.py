"""The torch-free ONNX graph (services/classifier/bert_graph.py): torch's sentence embeddings to ~1e-6, from weights
read without the safetensors package; a checkpoint it cannot read is refused with the file named."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.classifier.bert_graph import BertConfig, WeightsError, build_model, read_safetensors, word_table
from services.classifier.embedder import Embedder, packaged_model_path
from services.classifier.onnx_export import OPSET

MODEL_DIR = Path(packaged_model_path())


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype_names: dict[str, str] | None = None) -> None:
    """A safetensors file as the format describes it: u64 header length, JSON header, the arrays back to back."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    body, offset = b"", 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        kind = (dtype_names or {}).get(name) or {"float32": "F32", "float16": "F16", "int64": "I64"}[array.dtype.name]
        header[name] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        body, offset = body + raw, offset + len(raw)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + body)


def test_safetensors_are_read_as_written(tmp_path: Path) -> None:
    tensors = {
        "a.weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "b.bias": np.array([1.5, -2.25], dtype=np.float16),
        "ids": np.array([[0, 1, 2]], dtype=np.int64),
    }
    write_safetensors(tmp_path / "w.safetensors", tensors)
    read = read_safetensors(tmp_path / "w.safetensors")
    assert read.keys() == tensors.keys()
    for name, array in tensors.items():
        assert read[name].dtype == array.dtype and np.array_equal(read[name], array)


def test_unreadable_weights_are_refused_naming_the_file(tmp_path: Path) -> None:
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x01\x02")
    with pytest.raises(WeightsError, match=f"{short}: not a safetensors file"):
        read_safetensors(short)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(WeightsError, match="header length"):
        read_safetensors(huge)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 4) + b"nope")
    with pytest.raises(WeightsError, match="not JSON"):
        read_safetensors(garbage)
    bf16 = tmp_path / "bf16.safetensors"
    write_safetensors(bf16, {"w": np.zeros(2, dtype=np.float16)}, {"w": "BF16"})
    with pytest.raises(WeightsError, match="tensor w has dtype BF16"):
        read_safetensors(bf16)


def test_only_a_plain_bert_encoder_is_exported(tmp_path: Path) -> None:
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert BertConfig.read(MODEL_DIR) == BertConfig(hidden=384, heads=12, layers=6, layer_norm_eps=1e-12)
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new"}))
    with pytest.raises(WeightsError, match="exact GELU"):
        BertConfig.read(tmp_path)


@pytest.mark.slow
@pytest.mark.model
def test_graph_gives_torchs_sentence_embeddings(
    tmp_path: Path, torch_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime
    from tokenizers import Tokenizer

    with monkeypatch.context() as blocked:
        for name in ("torch", "transformers", "safetensors", "sentence_transformers"):
            blocked.setitem(sys.modules, name, None)  # the graph is written with none of them importable
        model = build_model(MODEL_DIR, OPSET)
        words = word_table(MODEL_DIR)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    texts = [
        "US and Russian convoys block each other on a road near Derik in north-east Syria",
        "Turkish and Russian troops hold a joint patrol on the M4 highway near Idlib " * 12,  # truncated at 256
        "a",
        "Российские и американские военные колонны заблокировали друг друга у Камышлы",
    ]
    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.enable_padding()  # the longest row in the batch: the others are padded, so the mask matters
    tokenizer.enable_truncation(256)
    rows = tokenizer.encode_batch(texts)
    ids = np.array([row.ids for row in rows], dtype=np.int64)
    mask = np.array([row.attention_mask for row in rows], dtype=np.int64)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # The word embeddings are gathered outside the graph (its word_vectors input), as the embedder does.
    feed = {"word_vectors": words[ids], "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    (got,) = session.run(None, feed)
    want = torch_embedder.encode(texts)
    assert np.abs(got - want).max() < 2e-6
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)

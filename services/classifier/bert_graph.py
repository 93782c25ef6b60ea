"""The ONNX graph of a BERT sentence encoder, written from its safetensors weights with onnx alone (no torch).

all-MiniLM-L6-v2 is a plain BERT encoder (transformers' ``BertModel``: absolute positions, post-layer-norm, exact
GELU) followed by sentence-transformers' mean pooling over the attention mask and L2 normalisation. Each step below
is that computation written with ONNX operators (opset 17, which has LayerNormalization), in the order and with the
constants transformers uses, so the output equals what sentence-transformers gives on torch to float rounding
(tests/classifier/test_bert_graph.py checks it against torch). The weights are read straight from the model
folder's ``model.safetensors`` (an 8-byte header length, a JSON header, raw little-endian arrays), so neither
torch, transformers nor the safetensors package is needed: this is what lets a torch-free install build its ONNX file.

The word-embedding lookup is the one step left out of the graph: the graph takes each token's row of the word
embeddings as its input ``word_vectors``, and the caller gathers those rows from the table ``word_table`` returns,
kept as a file beside the ONNX file (services/classifier/onnx_embedder.py). The table is half of the model's
weights (30,522 x 384 float32, 45 MB): inside the graph, every session held its own copy in RSS (the int8 session a
quantised one, 11 MB); read by rows from a file, it lives in the kernel's page cache, shared and droppable, and the
fp32 and int8 models read the same rows (docs/guide/languages-stories-int8.md, "Classifier memory").
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.errors import SetupError

# safetensors dtype names -> numpy (the ones a BERT checkpoint holds; bf16 has no numpy type and is refused).
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
_MAX_HEADER = 100 * 1024 * 1024  # the format's own cap on the JSON header


class WeightsError(SetupError, ValueError):
    """A model folder whose config or weights this exporter cannot read; the message names the file."""


@dataclass(frozen=True)
class BertConfig:
    """What the graph needs from the model folder's config.json."""

    hidden: int
    heads: int
    layers: int
    layer_norm_eps: float

    @classmethod
    def read(cls, model_dir: Path) -> BertConfig:
        path = model_dir / "config.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WeightsError(f"{path}: cannot read the model's config ({exc})") from None
        supported = (
            raw.get("model_type") == "bert"
            and raw.get("hidden_act") == "gelu"
            and raw.get("position_embedding_type", "absolute") == "absolute"
        )
        if not supported:
            raise WeightsError(
                f"{path}: only a BERT encoder with absolute positions and exact GELU can be exported without torch "
                f"(model_type {raw.get('model_type')!r}, hidden_act {raw.get('hidden_act')!r})"
            )
        return cls(
            hidden=int(raw["hidden_size"]),
            heads=int(raw["num_attention_heads"]),
            layers=int(raw["num_hidden_layers"]),
            layer_norm_eps=float(raw["layer_norm_eps"]),
        )


def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of a ``.safetensors`` file as a numpy array (copied out of the file, C order)."""
    data = path.read_bytes()
    if len(data) < 8:
        raise WeightsError(f"{path}: not a safetensors file (shorter than its header)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER, len(data) - 8):
        raise WeightsError(f"{path}: not a safetensors file (header length {header_len})")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except ValueError:
        raise WeightsError(f"{path}: not a safetensors file (its header is not JSON)") from None
    body = memoryview(data)[8 + header_len :]
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(spec["dtype"])
        if dtype is None:
            raise WeightsError(f"{path}: tensor {name} has dtype {spec['dtype']}, which this exporter cannot read")
        begin, end = spec["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(spec["shape"]).astype(dtype, copy=True)
    return tensors


class _Graph:
    """Nodes and initializers, with fresh names for intermediate values."""

    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name=name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out


WORD_TABLE = "embeddings.word_embeddings.weight"


def _weight(model_dir: Path, weights: dict[str, npt.NDArray[Any]], name: str) -> npt.NDArray[np.float32]:
    """A tensor of the checkpoint by its BertModel name (with or without the ``bert.`` prefix), as float32."""
    prefix = "bert." if "bert." + WORD_TABLE in weights else ""
    try:
        return weights[prefix + name].astype(np.float32)
    except KeyError:
        raise WeightsError(f"{model_dir / 'model.safetensors'}: no tensor {prefix + name}") from None


def word_table(model_dir: Path) -> npt.NDArray[np.float32]:
    """The word embeddings (vocabulary x hidden, float32): the rows ``build_model``'s ``word_vectors`` input takes."""
    return _weight(model_dir, read_safetensors(model_dir / "model.safetensors"), WORD_TABLE)


def build_model(model_dir: Path, opset: int) -> Any:
    """The ``onnx.ModelProto`` of the encoder + mean pooling + L2 normalisation in ``model_dir``.

    Inputs ``word_vectors`` (float32, batch x tokens x hidden: each token's row of ``word_table``),
    ``attention_mask`` and ``token_type_ids`` (int64, batch x tokens); output ``sentence_embedding`` (float32,
    batch x hidden), unit length.
    """
    from onnx import TensorProto, helper

    config = BertConfig.read(model_dir)
    weights = read_safetensors(model_dir / "model.safetensors")

    def w(name: str) -> npt.NDArray[np.float32]:
        return _weight(model_dir, weights, name)

    g = _Graph()
    f32 = np.float32
    eps = config.layer_norm_eps

    def linear(x: str, name: str) -> str:
        # torch's Linear is x @ W.T + b; the weight is stored transposed once, as torch.onnx.export does.
        weight = g.const(f"{name}.weight.T", w(f"{name}.weight").T)
        return g.op("Add", [g.op("MatMul", [x, weight]), g.const(f"{name}.bias", w(f"{name}.bias"))])

    def layer_norm(x: str, name: str) -> str:
        scale, bias = g.const(f"{name}.weight", w(f"{name}.weight")), g.const(f"{name}.bias", w(f"{name}.bias"))
        return g.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)

    # Embeddings: word (gathered by the caller) + absolute position (0..tokens-1) + token type, then layer norm.
    # Position ids 0..tokens-1 on every row: a running count of ones along the tokens axis, minus one.
    ones = g.op(
        "ConstantOfShape",
        [g.op("Shape", ["attention_mask"])],
        value=helper.make_tensor("one", TensorProto.INT64, [1], [1]),
    )
    positions = g.op(
        "Sub",
        [
            g.op("CumSum", [ones, g.const("tokens_axis", np.array(1, dtype=np.int64))]),
            g.const("one_i64", np.array(1, dtype=np.int64)),
        ],
    )
    position = g.op("Gather", [g.const("position_embeddings", w("embeddings.position_embeddings.weight")), positions])
    kind = g.op("Gather", [g.const("type_embeddings", w("embeddings.token_type_embeddings.weight")), "token_type_ids"])
    embedded = g.op("Add", [g.op("Add", ["word_vectors", position]), kind])
    hidden = layer_norm(embedded, "embeddings.LayerNorm")

    # The attention mask as transformers adds it to the scores: 0 where attended, the float minimum where padded,
    # shaped batch x 1 x 1 x tokens.
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    additive = g.op(
        "Mul",
        [
            g.op("Sub", [g.const("one_f32", np.array(1.0, dtype=f32)), mask_f]),
            g.const("float_min", np.array(np.finfo(f32).min, dtype=f32)),
        ],
    )
    additive = g.op("Unsqueeze", [additive, g.const("axes_1_2", np.array([1, 2], dtype=np.int64))])

    heads, head_dim = config.heads, config.hidden // config.heads
    split_heads = g.const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, config.hidden], dtype=np.int64))
    scale = g.const("attention_scale", np.array(1.0 / math.sqrt(head_dim), dtype=f32))
    half, one = g.const("half", np.array(0.5, dtype=f32)), g.const("one", np.array(1.0, dtype=f32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), dtype=f32))

    for n in range(config.layers):
        base = f"encoder.layer.{n}"

        def heads_of(x: str, perm: list[int]) -> str:
            return g.op("Transpose", [g.op("Reshape", [x, split_heads])], perm=perm)

        query = heads_of(linear(hidden, f"{base}.attention.self.query"), [0, 2, 1, 3])
        key_t = heads_of(linear(hidden, f"{base}.attention.self.key"), [0, 2, 3, 1])
        value = heads_of(linear(hidden, f"{base}.attention.self.value"), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [query, key_t]), scale]), additive])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), value])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attention_out = g.op("Add", [linear(context, f"{base}.attention.output.dense"), hidden])
        attended = layer_norm(attention_out, f"{base}.attention.output.LayerNorm")
        inner = linear(attended, f"{base}.intermediate.dense")
        # Exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), as transformers' "gelu" (onnxruntime fuses it back).
        gelu = g.op("Mul", [g.op("Mul", [inner, half]), g.op("Add", [g.op("Erf", [g.op("Div", [inner, sqrt2])]), one])])
        hidden = layer_norm(g.op("Add", [linear(gelu, f"{base}.output.dense"), attended]), f"{base}.output.LayerNorm")

    # Mean pooling over the attended tokens (sentence-transformers clamps the count at 1e-9), then x / max(|x|, 1e-12)
    # as torch.nn.functional.normalize.
    weights_3d = g.op("Unsqueeze", [mask_f, g.const("axes_2", np.array([2], dtype=np.int64))])
    axis_1 = g.const("axes_1", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [hidden, weights_3d]), axis_1], keepdims=0)
    counts = g.op("ReduceSum", [weights_3d, axis_1], keepdims=0)
    counts = g.op("Clip", [counts, g.const("min_count", np.array(1e-9, dtype=f32))])
    pooled = g.op("Div", [summed, counts])
    norm = g.op("ReduceL2", [pooled], axes=[1], keepdims=1)  # axes an attribute before opset 18
    norm = g.op("Clip", [norm, g.const("min_norm", np.array(1e-12, dtype=f32))])
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["sentence_embedding"]))

    def int_input(name: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])

    graph = helper.make_graph(
        g.nodes,
        "sentence_encoder",
        [
            helper.make_tensor_value_info("word_vectors", TensorProto.FLOAT, ["batch", "tokens", config.hidden]),
            int_input("attention_mask"),
            int_input("token_type_ids"),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", config.hidden])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tripwire")
    model.ir_version = 8  # opset 17's IR version, which onnxruntime 1.x reads
    return model

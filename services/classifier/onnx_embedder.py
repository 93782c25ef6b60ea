"""The sentence model on onnxruntime: tokenizers and one ONNX graph (transformer, pooling, normalisation); no torch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from services.classifier.embedder import Vectors
from services.classifier.onnx_export import MAX_TOKENS, OnnxModel, OnnxModelError
from shared.table_rows import TableRows

DIMENSIONS = 384
# Padded tokens in one forward pass. Texts are sorted by token count and cut into batches of at most this many
# padded tokens (and batch_size rows), so a batch holds texts of about one length and pads little, and its
# activations stay in the CPU's cache: on the bench's news mix, a 512-token budget encoded 1,000 texts 1.1x as fast
# as fixed batches of 32 in one call, and reads of 256 texts 1.5x as fast (padding to the longest of 32 mixed
# lengths), with a tenth of the activation memory (bench/classifier.py).
TOKEN_BUDGET = 512


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxEmbedder:
    """Encodes as sentence-transformers does (256 tokens at most, mean pooling, unit length), in token budgets.

    Batches run on ``workers`` threads at once, each forward pass on one core: on 2 cores that encoded 1.23x as
    fast as one pass at a time on two intra-op threads, which wait for each other between small operators.
    ``per_text`` runs every text alone (the int8 variant): onnxruntime's dynamic quantisation takes one activation
    scale per batch, so batched, a text's int8 embedding moved with the texts beside it (1 - cos up to 0.011);
    alone, it depends on the text only, and int8 at one text per pass was faster than batched (no padding at all).
    ``lean`` trades nothing measurable for memory, for a session that runs few texts (fp32 re-scoring): see
    ``lean_options``.
    """

    def __init__(
        self,
        model: OnnxModel,
        batch_size: int = 32,
        *,
        workers: int = 0,
        per_text: bool = False,
        lean: bool = False,
        tokenizer: Any = None,
    ) -> None:
        import onnxruntime

        self.model, self.per_text = model, per_text
        self.batch_size = 1 if per_text else batch_size
        # Given: another embedder's, of the same model folder (the fp32 re-scoring model shares the int8 one's:
        # ~10 MB each). The tokenizer is Rust and safe to call from several threads.
        self.tokenizer = tokenizer or model_tokenizer(model)
        self._pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one core per pass; passes run side by side (``workers``)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if lean:
            lean_options(options)
        self.workers = workers or cpu_count()
        # One pool for the embedder's life: InferenceSession.run is safe to call from several threads at once and
        # releases the GIL while it computes.
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="onnx") if self.workers > 1 else None
        try:
            # From the path, not from bytes read here: given bytes, onnxruntime keeps its own copy beside them, and
            # the classifier held ~100 MB more. ensure_onnx checked the file's hash just before; the cache folder
            # is replaced atomically (onnx_export.py), so the file loaded is the file checked.
            path = str(model.path)
            self._session: Any = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a file it cannot load
            raise OnnxModelError(
                f"{model.path}: onnxruntime cannot load it ({exc}); delete the folder to rebuild it"
            ) from exc
        # The word embeddings, read by rows from the file beside the model (bert_graph.py): the page cache holds
        # them, once for the int8 and fp32 sessions and every classifier on the machine, not this process's heap.
        try:
            self._words = TableRows.open(model.word_table)
        except (OSError, ValueError, EOFError) as exc:  # ensure_onnx checked its hash: a disk fault since
            raise OnnxModelError(
                f"{model.word_table}: cannot read it ({exc}); delete the folder to rebuild it"
            ) from exc

    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` longest first in token-budget batches; rows are unit length, in the input order."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        ids = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        batches = list(token_batches([len(row) for row in ids], self.batch_size))
        passes = [[ids[row] for row in rows] for rows in batches]
        results = self._pool.map(self._encode_batch, passes) if self._pool else map(self._encode_batch, passes)
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for rows, vectors in zip(batches, results, strict=True):
            out[rows] = vectors
        return out

    def _encode_batch(self, ids: list[list[int]]) -> Vectors:
        width = max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(ids), width), dtype=np.int64)
        for n, row in enumerate(ids):
            input_ids[n, : len(row)] = row
            attention_mask[n, : len(row)] = 1
        feed = {
            "word_vectors": self._words[input_ids],
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        (vectors,) = self._session.run(None, feed)
        return np.asarray(vectors, dtype=np.float32)


def model_tokenizer(model: OnnxModel) -> Any:
    """The model folder's tokenizer, set as sentence-transformers runs it."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model.model_dir / "tokenizer.json"))
    # The packaged tokenizer.json pads and truncates every input to a fixed 128 tokens; we pad per batch here and
    # truncate at max_seq_length (256) as sentence-transformers does: truncating at 128 would change the embeddings
    # of long texts.
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def lean_options(options: Any) -> None:
    """Session options that hold less memory for the fp32 model (fresh processes, 600 dev texts encoded): RSS
    +108 MB loaded and +140 MB after runs, against +121 to +135 and +163 to +178 with the defaults, at the same
    speed, embeddings within 1.3e-7. Prepacking keeps a second, re-laid-out copy of the MatMul weights on the heap;
    memory patterns keep an allocation plan per input shape, and every batch of texts has its own shape. Turning
    the CPU arena off made it worse (+190 to +207 MB after runs: the heap fragments), as it did for int8; on the
    int8 model memory patterns made no difference (one text per pass)."""
    options.add_session_config_entry("session.disable_prepacking", "1")
    options.enable_mem_pattern = False


def token_batches(lengths: list[int], batch_size: int, budget: int = TOKEN_BUDGET) -> Iterator[npt.NDArray[np.int64]]:
    """Row indices, longest first, cut into batches of at most ``batch_size`` rows and ``budget`` padded tokens."""
    order = np.argsort([-length for length in lengths], kind="stable")
    start = 0
    while start < len(order):
        # Sorted longest first, so the batch's first text sets its padded width; one text always fits.
        count = max(1, min(batch_size, budget // max(1, lengths[order[start]])))
        yield order[start : start + count]
        start += count

"""int8 speed with fp32 decisions: an item scored near a threshold by the int8 model is scored again in fp32.

The int8 model (``onnx-int8``, the default) moves a score by at most ``MEASURED_MAX_DIFF`` from the fp32 model's
on every labeled set at hand (docs/languages-stories-int8.md, "int8 with fp32 decisions"), and a score moves at
most as much as the semantic part it is built from (the keyword part and the meaning shift do not depend on the
model). So an item whose int8 score lies more than ``RESCORE_MARGIN`` (above that maximum) from every threshold
it is judged against is on the same side as its fp32 score; the few within the margin are scored again by the
fp32 model, and the fp32 result is the one published. Decisions are fp32's; only those items pay for fp32.

Only the English model's texts can move: the multilingual model (USE-m3) is the same in both. The fp32 session
is loaded at the first item that needs it, not before (its file is checked at start, so a missing one fails
there, not in the middle of a stream). Thresholds judged: each topic's, per language, and the console's
overrides the service sets in ``overrides`` before each batch (services/classifier/overrides.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from services.classifier.embedder import Embedder, Vectors, packaged_model_path
from services.classifier.routing import ENGLISH, embedding_space, multilingual_embedder
from services.classifier.scoring import SENTENCE_MARGIN, Scorer, TopicScore
from shared.config import TopicConfig, TripwireConfig
from shared.heap import release_free_heap

# Largest |int8 - fp32| score over data/eval/*.jsonl and the dev set, pruned and exact scoring: 0.0868
# (data/eval/topics.jsonl, pruned, as the service scores; dev 0.0794 exact, 0.0359 pruned; `python -m bench
# int8_margin`), but for one item of data/eval/topics.jsonl scored exactly, 0.00 against 0.26 with its threshold
# at 0.62: there the best unit switched from the whole text (near a counter-example) to a sentence, a jump no
# embedding bound limits (docs/guide/languages-stories-int8.md, "What the margin does not cover").
MEASURED_MAX_DIFF = 0.087
RESCORE_MARGIN = 0.1  # the measured maximum and room for text unlike any labeled set
ReScore = Callable[[Scorer, list[str], list[str | None]], list[list[TopicScore]]]


class RescoringScorer(Scorer):
    """A Scorer on the int8 model whose near-threshold results are replaced by an fp32 Scorer's."""

    def __init__(
        self,
        topics: dict[str, TopicConfig],
        embedder: Embedder,
        multilingual: Embedder | None = None,
        *,
        exact: Callable[[], Embedder],
        margin: float = RESCORE_MARGIN,
    ) -> None:
        super().__init__(topics, embedder, multilingual)
        self.margin, self._load_exact = margin, exact
        self._exact: Scorer | None = None
        self._lock = threading.Lock()
        self.overrides: Mapping[str, float] = {}  # the console's thresholds, set by the service before each batch
        self.scored = self.rescored = 0  # texts, for figures (bench/classifier.py)

    def with_topics(self, topics: dict[str, TopicConfig]) -> RescoringScorer:
        """The same models on other topics (learned examples): the fp32 model, once loaded, is shared."""
        loaded = self._exact.embedder if self._exact is not None else None
        fresh = RescoringScorer(
            topics, self.embedder, self.multilingual, exact=(lambda: loaded) if loaded else self._load_exact,
            margin=self.margin,
        )  # fmt: skip
        fresh.overrides = self.overrides
        return fresh

    def exact_scorer(self) -> Scorer:
        """The fp32 Scorer on the same topics, built (and its model loaded) at the first call."""
        with self._lock:
            if self._exact is None:
                topics = {topic.name: topic.config for topic in self.topics}
                self._exact = Scorer(topics, self._load_exact(), self.multilingual)
                release_free_heap()  # the model file read while the session was built
            return self._exact

    def near(self, results: list[list[TopicScore]]) -> list[int]:
        """Rows scored by the English model within the margin of a threshold they are or may be judged against."""
        rows = []
        for n, row in enumerate(results):
            for result in row:
                if embedding_space(result.language, self.multilingual is not None) != ENGLISH:
                    continue
                thresholds = [result.threshold]
                if result.topic in self.overrides and not result.language_threshold:
                    thresholds.append(self.overrides[result.topic])
                if any(abs(result.score - threshold) <= self.margin for threshold in thresholds):
                    rows.append(n)
                    break
        return rows

    def _rescored(self, results: list[list[TopicScore]], texts: list[str], again: ReScore) -> list[list[TopicScore]]:
        near = self.near(results)
        self.scored += len(texts)
        self.rescored += len(near)
        if not near:
            return results
        languages = [results[n][0].language if results[n] else None for n in near]
        fixed = again(self.exact_scorer(), [texts[n] for n in near], languages)
        out = list(results)
        for n, row in zip(near, fixed, strict=True):
            out[n] = row
        return out

    def _score_exact(
        self, texts: list[str], languages: Sequence[str | None] | None, *, with_vectors: bool
    ) -> tuple[list[list[TopicScore]], Vectors]:
        results, vectors = super()._score_exact(texts, languages, with_vectors=with_vectors)
        return self._rescored(results, texts, lambda scorer, part, langs: scorer.score_texts(part, langs)), vectors

    def score_texts_pruned(
        self, texts: list[str], margin: float = SENTENCE_MARGIN, languages: Sequence[str | None] | None = None
    ) -> tuple[list[list[TopicScore]], Vectors]:
        results, vectors = super().score_texts_pruned(texts, margin, languages)

        def again(scorer: Scorer, part: list[str], langs: list[str | None]) -> list[list[TopicScore]]:
            return scorer.score_texts_pruned(part, margin, langs)[0]

        return self._rescored(results, texts, again), vectors

    def score_whole_texts(
        self, texts: list[str], languages: Sequence[str | None] | None = None
    ) -> tuple[list[list[TopicScore]], Vectors]:
        results, vectors = super().score_whole_texts(texts, languages)
        return self._rescored(
            results, texts, lambda scorer, part, langs: scorer.score_whole_texts(part, langs)[0]
        ), vectors


def make_scorer(config: TripwireConfig, backend: str | None = None, batch_size: int | None = None) -> Scorer:
    """The scorer the service, ``tripwire score``, ``eval`` and ``backtest`` run: on ``onnx-int8``, re-scoring near
    thresholds in fp32; any other backend as it is."""
    from services.classifier.backends import make_embedder, model_cache
    from shared.language import keep_table_in

    name = backend or config.classifier.backend
    keep_table_in(model_cache(config))  # language detection's table out of RSS, as USE-m3's (shared/language.py)
    embedder = make_embedder(config, name, batch_size)
    multilingual = multilingual_embedder(config.classifier)
    if name != "onnx-int8":
        return Scorer(config.topics, embedder, multilingual)
    from services.classifier.onnx_export import ensure_onnx

    settings = config.classifier
    model_dir = Path(settings.model_path).expanduser() if settings.model_path else Path(packaged_model_path())
    # Checked (or built) now, loaded later: a missing fp32 file fails at start, not at the first close call.
    exact_model = ensure_onnx(model_dir, "fp32", model_cache(config))

    def exact() -> Embedder:
        from services.classifier.onnx_embedder import OnnxEmbedder

        # Lean: it scores the few items near a threshold, and its memory is what the classifier's RSS target
        # misses by (docs/guide/languages-stories-int8.md, "Classifier memory").
        # The same model folder's tokenizer as the int8 model's: one copy.
        shared = getattr(embedder, "tokenizer", None)
        return OnnxEmbedder(exact_model, batch_size or settings.batch_size, lean=True, tokenizer=shared)

    return RescoringScorer(config.topics, embedder, multilingual, exact=exact)

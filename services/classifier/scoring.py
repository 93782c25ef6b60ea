"""Scoring items against topics: nearest examples, counter-examples and keyword evidence, explained.

For each topic and item:

    units      = the whole text (title + summary), then each of its sentences (the title is one)
    similarity = cosine similarity of the best unit to its nearest positive example
                 (the best sentence is reported too, even when the whole text matched best)
    counter    = cosine similarity of that same unit to its nearest counter-example
    semantic   = similarity - weights.counter * max(0, counter - similarity)
    keywords   = weights.all_groups * all + (1 - weights.all_groups) * any, in [0, 1], where
                 all = 1 when every 'all' group matched a term, else 0;
                 any = distinct 'any' terms found / weights.any_terms_for_full, at most 1
                 (a topic with only one kind of rule uses that part alone)
    score      = (1 - weights.keywords) * semantic + weights.keywords * keywords, clipped to [0, 1];
                 a 'none' term vetoes the topic (score 0)

so a topic alerts when an item reads like one of its examples more than like any near miss, and the
keywords confirm who and what; keywords alone (at most ``weights.keywords``) never reach a threshold.

A language the multilingual model knows has its own, lower threshold (``thresholds``: its similarities sit lower
than MiniLM's). Keyword evidence is on no model's scale, so there it counts in proportion,

    keywords part = weights.keywords * keywords * threshold(language) / threshold

and keeps the share of the threshold it has in English (0.4 of 0.62). Counted whole against a threshold of 0.45,
"US", "Russian" and "troops" in any report (0.32) left a semantic part of 0.22 to find: a third of what English
asks, and below where unrelated real Russian, Arabic and Turkish news sits (docs/languages.md). A language the
model does not know (Kurdish: no ``meaning_thresholds``) has no meaning to weigh: its terms are the way in and count
whole.

Keyword evidence is not the only way in: in a language with a meaning threshold (``meaning_thresholds``), the
score is at least the semantic part moved onto the threshold's scale,

    meaning    = semantic - (meaning_threshold - threshold)

so an item whose semantic part alone reaches the meaning threshold alerts without a keyword (its reasons say
``meaning_only``), and score >= threshold stays the one match rule that evaluation sweeps and overrides use.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.classifier.embedder import Embedder, Vectors
from services.classifier.keywords import KeywordMatch, KeywordMatcher
from services.classifier.routing import ENGLISH, MULTILINGUAL, embedding_space, resolve_languages
from shared.config import TopicConfig, TopicWeights
from shared.language import KURDISH, kurdish_dialect
from shared.schemas import Item, Reasons

# End punctuation of Latin, Cyrillic and Arabic script (؟ is the Arabic question mark, ۔ the Urdu full stop).
_SENTENCE_END = re.compile(r"(?<=[.!?؟۔])\s+")
_OPENING_QUOTES = "\"'“‘«„"
MIN_SENTENCE_CHARS = 20
# A text's best sentence scored at most 0.26 above its whole text on 318 labeled news items (the shipped eval
# set and the dev set), and no matching text scored more than 0.12 below its threshold on its whole text alone.
# Texts further than this below every threshold cannot match: the service skips embedding their sentences.
SENTENCE_MARGIN = 0.3


def split_sentences(text: str) -> list[str]:
    """Sentences of a text (end punctuation, then a space and a sentence start); short fragments dropped."""
    sentences: list[str] = []
    for part in _SENTENCE_END.split(text):
        if sentences and not _starts_sentence(part):
            sentences[-1] += " " + part  # "approx. five", "U.S. troops": no new sentence before a lower-case word
        else:
            sentences.append(part)
    return [part.strip() for part in sentences if len(part.strip()) >= MIN_SENTENCE_CHARS]


def _starts_sentence(part: str) -> bool:
    """A capital in any cased script (Latin, Cyrillic, Turkish İ), a letter of a caseless one (Arabic), a digit or
    an opening quote: what may follow end punctuation at a sentence start."""
    first = part[:1]
    if not first:
        return False
    return first in _OPENING_QUOTES or first.isdigit() or first.isupper() or (first.isalpha() and not first.islower())


def text_units(text: str) -> list[str]:
    """What is embedded for one text: the whole of it, then its sentences when there is more than one."""
    sentences = split_sentences(text)
    return [text, *sentences] if len(sentences) > 1 else [text]


@dataclass(frozen=True)
class TopicScore:
    """One item's score for one topic, with its reasons."""

    topic: str
    score: float
    threshold: float
    reasons: Reasons
    language: str | None = None  # the text's language, as given or detected
    # True when ``threshold`` is the topic's own for that language (``thresholds``): console overrides leave it.
    language_threshold: bool = False
    dialect: str | None = None  # Kurdish: kmr (Kurmanji, Latin script) or ckb (Sorani, Arabic script)

    @property
    def matched(self) -> bool:
        """True when the score reaches the topic's threshold."""
        return self.score >= self.threshold


def meaning_score(semantic: float, meaning_threshold: float, threshold: float) -> float:
    """The semantic part on the threshold's scale: at ``threshold`` exactly when it reaches ``meaning_threshold``."""
    return semantic - (meaning_threshold - threshold)


def keyword_share(threshold: float, topic_threshold: float, meaning_threshold: float | None) -> float:
    """How much of ``weights.keywords`` the keyword evidence counts for at ``threshold``: in proportion to the
    topic's threshold in a language with a meaning route (its own lower scale), whole elsewhere."""
    if meaning_threshold is None or threshold >= topic_threshold or topic_threshold <= 0:
        return 1.0
    return threshold / topic_threshold


def keyword_evidence(match: KeywordMatch, matcher: KeywordMatcher, weights: TopicWeights) -> float:
    """The keyword part of the score, in [0, 1]: 'all' groups and 'any' terms, weighted by ``all_groups``."""
    all_part = 1.0 if match.all_satisfied else 0.0
    any_part = min(1.0, len(match.any_terms) / weights.any_terms_for_full)
    if matcher.group_count and matcher.has_any:
        return weights.all_groups * all_part + (1.0 - weights.all_groups) * any_part
    if matcher.group_count:
        return all_part
    return any_part if matcher.has_any else 0.0


@dataclass(frozen=True)
class _Nearest:
    """For one item and topic: the best unit, its nearest example and counter-example, and the semantic part."""

    sentence: str  # the sentence most like an example (the whole text when it is one sentence)
    sentence_similarity: float
    similarity: float  # of the best unit, whole text or sentence
    example: int
    counter: int | None
    counter_similarity: float
    semantic: float


class TopicModel:
    """A topic with its example embeddings computed once, in each embedding space the scorer uses."""

    def __init__(
        self, name: str, config: TopicConfig, embedder: Embedder, multilingual: Embedder | None = None
    ) -> None:
        self.name, self.config = name, config
        self.examples = config.examples
        self.counter_examples = config.counter_examples
        self.example_vectors = embedder.encode(self.examples)
        self.counter_vectors = embedder.encode(self.counter_examples)
        self.spaces = {ENGLISH: (self.example_vectors, self.counter_vectors)}
        # The texts behind each space's vectors: the multilingual space adds the examples written in other languages.
        self.space_texts = {ENGLISH: (self.examples, self.counter_examples)}
        self._multilingual = multilingual
        self._lock = threading.Lock()
        if multilingual is not None:
            examples = [*self.examples, *config.multilingual_examples]
            counters = [*self.counter_examples, *config.multilingual_counter_examples]
            self.space_texts[MULTILINGUAL] = (examples, counters)
        self.keywords = KeywordMatcher(config.keywords)

    def space_vectors(self, space: str) -> tuple[Vectors, Vectors]:
        """The example and counter-example vectors of ``space``; the multilingual ones are embedded at first use."""
        # Lazily: a stream (or a `tripwire score`) with no text outside English never loads USE-m3 (~120 MB, ~1 s
        # of a start); the first text that needs it pays that once.
        with self._lock:
            if space not in self.spaces:
                examples, counters = self.space_texts[space]
                if self._multilingual is None:  # only the multilingual space is lazy, and only with its model
                    raise KeyError(space)
                self.spaces[space] = (self._multilingual.encode(examples), self._multilingual.encode(counters))
            return self.spaces[space]

    def score_batch(
        self,
        texts: list[str],
        units: list[list[str]],
        vectors: Vectors,
        languages: Sequence[str | None] | None = None,
        space: str = ENGLISH,
    ) -> list[TopicScore]:
        """Score every text of a batch; ``vectors`` holds the embeddings of all units, text after text, in ``space``."""
        example_vectors, counter_vectors = self.space_vectors(space)
        has_counters = len(self.space_texts[space][1]) > 0
        sims = vectors @ example_vectors.T  # (units, examples): one matrix product for the whole batch
        unit_best, unit_example = sims.max(axis=1), sims.argmax(axis=1)
        if has_counters:
            counter_sims = vectors @ counter_vectors.T
            unit_counter, unit_counter_index = counter_sims.max(axis=1), counter_sims.argmax(axis=1)
        else:
            unit_counter = np.zeros(len(vectors), dtype=np.float32)
            unit_counter_index = np.zeros(len(vectors), dtype=np.int64)
        starts = np.cumsum([0, *(len(text_units_) for text_units_ in units[:-1])]).astype(np.int64)
        # The best unit of each text: an argmax within each text's slice of the flat unit axis.
        best = starts + np.array([np.argmax(unit_best[s : s + len(u)]) for s, u in zip(starts, units, strict=True)])
        # The best sentence is reported even when the whole text matched best: it shows an analyst where to look.
        sentence = np.array(
            [
                s + (1 + int(np.argmax(unit_best[s + 1 : s + len(u)])) if len(u) > 1 else 0)
                for s, u in zip(starts, units, strict=True)
            ]
        )
        similarity, counter = unit_best[best], unit_counter[best]
        semantic = similarity - self.config.weights.counter * np.maximum(0.0, counter - similarity)
        langs = languages if languages is not None else [None] * len(texts)
        return [
            self._explain(
                text,
                _Nearest(
                    sentence=units[row][int(sentence[row] - starts[row])],
                    sentence_similarity=float(unit_best[sentence[row]]),
                    similarity=float(similarity[row]),
                    example=int(unit_example[best[row]]),
                    counter=int(unit_counter_index[best[row]]) if has_counters else None,
                    counter_similarity=float(counter[row]),
                    semantic=float(semantic[row]),
                ),
                langs[row],
                space,
            )
            for row, text in enumerate(texts)
        ]

    def _explain(self, text: str, nearest: _Nearest, language: str | None = None, space: str = ENGLISH) -> TopicScore:
        """Add the keyword evidence to the semantic part and write down why."""
        weights = self.config.weights
        examples, counter_examples = self.space_texts[space]
        match = self.keywords.match(text, language)
        evidence = keyword_evidence(match, self.keywords, weights)
        threshold = self.config.threshold_for(language)
        meaning_threshold = self.config.meaning_threshold_for(language)
        keyword_weight = weights.keywords * keyword_share(threshold, self.config.threshold, meaning_threshold)
        raw = (1.0 - weights.keywords) * nearest.semantic + keyword_weight * evidence
        meaning = 0.0 if meaning_threshold is None else meaning_score(nearest.semantic, meaning_threshold, threshold)
        meaning_only = meaning > raw and not match.vetoed_by  # the score is the meaning alone, not the blend
        score = 0.0 if match.vetoed_by else float(np.clip(max(raw, meaning), 0.0, 1.0))
        has_counter = nearest.counter is not None
        reasons = Reasons(
            score=round(score, 4),
            threshold=threshold,
            keywords=match.terms,
            nearest_example=examples[nearest.example],
            example_similarity=round(nearest.similarity, 4),
            best_sentence=nearest.sentence,
            sentence_similarity=round(nearest.sentence_similarity, 4),
            counter_example=counter_examples[nearest.counter] if nearest.counter is not None else None,
            counter_similarity=round(nearest.counter_similarity, 4) if has_counter else None,
            semantic_score=round(nearest.semantic, 4),
            keyword_score=round(evidence, 4),
            vetoed_by=match.vetoed_by,
            meaning_threshold=meaning_threshold,
            meaning_only=meaning_only,
        )
        own = language is not None and language in self.config.thresholds
        dialect = kurdish_dialect(text) if language == KURDISH else None
        return TopicScore(self.name, score, threshold, reasons, language, own, dialect)


class Scorer:
    """Scores batches of items against every topic with one model call per batch and embedding space.

    Texts go to the English model or the multilingual one by language (services/classifier/routing.py); a text
    without a known language is detected from its words first. The vectors returned for story clustering are
    always the English model's whole-text ones, as before languages were routed.
    """

    def __init__(
        self, topics: dict[str, TopicConfig], embedder: Embedder, multilingual: Embedder | None = None
    ) -> None:
        self.embedder, self.multilingual = embedder, multilingual
        self.topics = [TopicModel(name, config, embedder, multilingual) for name, config in topics.items()]

    def _embedder(self, space: str) -> Embedder:
        return self.multilingual if space == MULTILINGUAL and self.multilingual is not None else self.embedder

    def _spaces(
        self, texts: list[str], languages: Sequence[str | None] | None
    ) -> tuple[list[str | None], dict[str, list[int]]]:
        """Each text's language (detected where not given) and the rows of each embedding space."""
        langs = resolve_languages(texts, languages)
        rows: dict[str, list[int]] = {}
        for row, language in enumerate(langs):
            rows.setdefault(embedding_space(language, self.multilingual is not None), []).append(row)
        return langs, rows

    def score_texts(self, texts: list[str], languages: Sequence[str | None] | None = None) -> list[list[TopicScore]]:
        """Every topic's score for each text (outer list: texts; inner: topics in config order)."""
        return self._score_exact(texts, languages, with_vectors=False)[0]

    def score_texts_with_vectors(
        self, texts: list[str], languages: Sequence[str | None] | None = None
    ) -> tuple[list[list[TopicScore]], Vectors]:
        """Like ``score_texts``, plus each whole text's English-model embedding, for story clustering."""
        return self._score_exact(texts, languages, with_vectors=True)

    def _score_exact(
        self, texts: list[str], languages: Sequence[str | None] | None, *, with_vectors: bool
    ) -> tuple[list[list[TopicScore]], Vectors]:
        """Whole texts and every sentence embedded, per space; with the English whole-text vectors if asked."""
        if not texts:
            return [], np.zeros((0, 0), dtype=np.float32)
        langs, spaces = self._spaces(texts, languages)
        results: list[list[TopicScore]] = [[] for _ in texts]
        whole: dict[int, Vectors] = {}
        for space, rows in spaces.items():
            part = [texts[n] for n in rows]
            units = [text_units(text) for text in part]
            vectors = self._embedder(space).encode([unit for text_units_ in units for unit in text_units_])
            for n, row in zip(rows, self._combine(part, units, vectors, [langs[n] for n in rows], space), strict=True):
                results[n] = row
            if with_vectors and space == ENGLISH:
                starts = np.cumsum([0, *(len(text_units_) for text_units_ in units[:-1])]).astype(np.int64)
                whole.update(zip(rows, vectors[starts], strict=True))
        if not with_vectors:
            return results, np.zeros((0, 0), dtype=np.float32)
        missing = [n for n in range(len(texts)) if n not in whole]
        if missing:
            whole.update(zip(missing, self.embedder.encode([texts[n] for n in missing]), strict=True))
        return results, np.stack([whole[n] for n in range(len(texts))])

    def score_items(self, items: list[Item]) -> list[list[TopicScore]]:
        """Every topic's score for each item (title and summary), sentences embedded only where they can matter."""
        return self.score_items_with_vectors(items)[0]

    def score_items_with_vectors(self, items: list[Item]) -> tuple[list[list[TopicScore]], Vectors]:
        """``score_items`` plus each item's whole-text embedding, for story clustering."""
        return self.score_texts_pruned([item.text for item in items], languages=[item.language for item in items])

    def score_texts_pruned(
        self, texts: list[str], margin: float = SENTENCE_MARGIN, languages: Sequence[str | None] | None = None
    ) -> tuple[list[list[TopicScore]], Vectors]:
        """``score_texts`` for the service: the same alerts, with sentences embedded only for texts that may match.

        Every text's whole is embedded first; a text whose whole-text score is below ``threshold - margin`` for
        every topic is scored on its whole text alone (its sentences could not lift it to a threshold: see
        SENTENCE_MARGIN). The others are scored exactly as ``score_texts`` does, reusing the whole-text vector,
        so every alert, score and reason published is the same; only far-below-threshold scores (metrics) may
        be lower than the full scoring's.
        """
        if not texts:
            return [], np.zeros((0, 0), dtype=np.float32)
        langs, spaces = self._spaces(texts, languages)
        english_vectors = self.embedder.encode(texts)  # the English model's, for every text: story clustering
        results: list[list[TopicScore]] = [[] for _ in texts]
        for space, rows in spaces.items():
            part, part_langs = [texts[n] for n in rows], [langs[n] for n in rows]
            whole = english_vectors[rows] if space == ENGLISH else self._embedder(space).encode(part)
            for n, row in zip(rows, self._pruned(part, part_langs, whole, space, margin), strict=True):
                results[n] = row
        return results, english_vectors

    def _pruned(
        self, texts: list[str], langs: list[str | None], whole: Vectors, space: str, margin: float
    ) -> list[list[TopicScore]]:
        """Scores of texts of one space: whole texts first, then sentences of the texts near a threshold."""
        results = self._combine(texts, [[text] for text in texts], whole, langs, space)
        near = near_threshold(results, margin)
        units = {n: text_units(texts[n]) for n in near}
        sentences = [unit for n in near for unit in units[n][1:]]
        if not sentences:
            return results
        sentence_vectors = self._embedder(space).encode(sentences)
        blocks, cursor = [], 0
        for n in near:  # each near text's units, whole text first, as score_batch expects
            count = len(units[n]) - 1
            blocks += [whole[n : n + 1], sentence_vectors[cursor : cursor + count]]
            cursor += count
        rescored = self._combine(
            [texts[n] for n in near], [units[n] for n in near], np.concatenate(blocks), [langs[n] for n in near], space
        )
        for n, row in zip(near, rescored, strict=True):
            results[n] = row
        return results

    def score_whole_texts(
        self, texts: list[str], languages: Sequence[str | None] | None = None
    ) -> tuple[list[list[TopicScore]], Vectors]:
        """Scores of the whole texts alone (no sentences), and their English-model vectors."""
        english_vectors = self.embedder.encode(texts)
        langs, spaces = self._spaces(texts, languages)
        results: list[list[TopicScore]] = [[] for _ in texts]
        for space, rows in spaces.items():
            part = [texts[n] for n in rows]
            whole = english_vectors[rows] if space == ENGLISH else self._embedder(space).encode(part)
            combined = self._combine(part, [[text] for text in part], whole, [langs[n] for n in rows], space)
            for n, row in zip(rows, combined, strict=True):
                results[n] = row
        return results, english_vectors

    def _combine(
        self,
        texts: list[str],
        units: list[list[str]],
        vectors: Vectors,
        languages: Sequence[str | None] | None = None,
        space: str = ENGLISH,
    ) -> list[list[TopicScore]]:
        """Scores per text (outer) and topic (inner), from the vectors of every text's units."""
        per_topic = [topic.score_batch(texts, units, vectors, languages, space) for topic in self.topics]
        return [list(row) for row in zip(*per_topic, strict=True)] if per_topic else [[] for _ in texts]


def near_threshold(results: list[list[TopicScore]], margin: float = SENTENCE_MARGIN) -> list[int]:
    """Rows with a whole-text score within ``margin`` of some topic's threshold: the texts whose sentences count."""
    return [n for n, row in enumerate(results) if any(r.score >= r.threshold - margin for r in row)]


def score_matrix(results: list[list[TopicScore]]) -> npt.NDArray[np.float64]:
    """Scores as an (items, topics) array, for evaluation sweeps."""
    return np.array([[result.score for result in row] for row in results], dtype=np.float64)


def threshold_matrix(results: list[list[TopicScore]]) -> npt.NDArray[np.float64]:
    """The threshold each score was judged against, as an (items, topics) array (languages may differ)."""
    return np.array([[result.threshold for result in row] for row in results], dtype=np.float64)

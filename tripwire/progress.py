"""A progress bar on stderr for long scoring runs (eval, backtest); silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from services.classifier.batch_scoring import Progress


@contextmanager
def progress_bar(total: int, what: str) -> Iterator[Progress]:
    """Yields a callback taking the number of items just done; the bar closes (and clears) when the block ends."""
    from tqdm import tqdm

    # disable=None: no bar when stderr is piped or captured, so logs and test output stay clean.
    with tqdm(
        total=total, desc=what, unit=" items", file=sys.stderr, disable=None, leave=False, mininterval=0.5
    ) as bar:
        yield bar.update

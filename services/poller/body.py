"""Reading a response body under a size cap counted after decompression, so a gzip bomb is refused, not buffered."""

from __future__ import annotations

import zlib

import httpx

from shared.errors import RemoteError

# Only encodings we decode ourselves are offered: httpx would inflate a whole chunk at once, and one 64 KiB chunk of
# a gzip bomb can inflate to tens of megabytes before any cap is checked.
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(RemoteError):
    """The decompressed body went over the cap."""


class UnsupportedEncoding(RemoteError):
    """The server used a Content-Encoding we did not offer."""


class CappedBody:
    """Accumulates raw chunks, inflating at most ``cap + 1`` bytes per step so memory stays bounded."""

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        self.cap, self.size = cap, 0
        self._parts: list[bytes] = []
        encoding = (content_encoding or "identity").strip().lower()
        self._inflate: zlib._Decompress | None
        self._raw_deflate_fallback = False
        if encoding in ("", "identity"):
            self._inflate = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            # "deflate" is zlib-wrapped by the spec, but some servers send raw deflate: retry raw on a bad header.
            self._inflate, self._raw_deflate_fallback = zlib.decompressobj(zlib.MAX_WBITS), True
        else:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r} (we offer {ACCEPT_ENCODING})")

    def add(self, raw: bytes) -> None:
        """Append one raw (still encoded) chunk; raises BodyTooLarge past the cap."""
        if self._inflate is None:
            self._append(raw)
            return
        data = raw
        while data:
            try:
                out = self._inflate.decompress(data, self.cap - self.size + 1)
            except zlib.error:
                if not self._raw_deflate_fallback or self.size:
                    raise
                self._inflate, self._raw_deflate_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._raw_deflate_fallback = False
            self._append(out)
            data = self._inflate.unconsumed_tail

    def finish(self) -> bytes:
        """The whole decoded body."""
        if self._inflate is not None:
            self._append(self._inflate.flush())
        return b"".join(self._parts)

    def _append(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.cap:
            raise BodyTooLarge(f"body larger than {self.cap} bytes after decompression")
        if chunk:
            self._parts.append(chunk)


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """Stream ``response``'s body, decoding gzip/deflate ourselves, and stop as soon as it exceeds ``cap``."""
    body = CappedBody(response.headers.get("content-encoding"), cap)
    async for raw in response.aiter_raw():
        body.add(raw)
    return body.finish()

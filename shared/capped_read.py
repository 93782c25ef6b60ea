"""The one capped reader: every body Tripwire reads from a stranger goes through here.

Strangers are feeds, article pages, WebSub hubs, notification receivers and WebSub pushes. Each of them can send
a body that is small on the wire and huge once inflated (a gzip bomb: 10 KB of gzip is 10 MiB of zeros), or send
it one byte a second. So:

- the size cap is counted AFTER decompression, and we inflate ourselves at most ``cap + 1`` bytes per step: httpx
  would inflate a whole 64 KiB network chunk at once, which for a bomb is tens of MiB before any cap is checked;
- only gzip and deflate are offered (``ACCEPT_ENCODING``) and decoded; anything else (br, zstd, compress) is
  refused as undecodable rather than buffered;
- ``request_capped`` puts ONE total deadline over the whole exchange (connect, headers, body): httpx's timeouts are
  per phase and per read, so a peer that drips one byte every few seconds never trips them.

Errors: ``BodyTooLarge`` and ``UndecodableBody`` (both ``CappedReadError``); a missed deadline is
``TotalTimeout``, an ``httpx.TimeoutException``, so callers that already treat httpx timeouts as retryable do the
same for it. Callers that only want an excerpt of an answer (an error text from a hub or a receiver) pass
``truncate=True``: the first ``cap`` decoded bytes are kept and the rest is never read.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import httpx

from shared.errors import RemoteError

ACCEPT_ENCODING = "gzip, deflate"
ANSWER_EXCERPT_BYTES = 64 * 1024
"""What is read of an answer that is only quoted or parsed for a hint (hub errors, receivers' answers)."""
DEFAULT_DEADLINE_SECONDS = 30.0
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class CappedReadError(RemoteError):
    """A body that was refused while it was read."""


class BodyTooLarge(CappedReadError):
    """The decompressed body went over the cap."""


class UndecodableBody(CappedReadError):
    """A Content-Encoding we did not offer, or a compressed stream that does not decode."""


# Kept as a name for callers and tests written before the split (an unsupported encoding is undecodable).
UnsupportedEncoding = UndecodableBody


class TotalTimeout(RemoteError, httpx.TimeoutException):
    """No complete answer (headers and body) within the total deadline."""


class CappedBody:
    """Accumulates raw chunks, inflating at most ``cap + 1`` bytes per step so memory stays bounded.

    With ``truncate`` the body stops growing at ``cap`` bytes instead of raising; ``full`` then says so.
    """

    def __init__(self, content_encoding: str | None, cap: int, *, truncate: bool = False) -> None:
        self.cap, self.size, self.truncate, self.full = cap, 0, truncate, False
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
            raise UndecodableBody(f"unsupported Content-Encoding {encoding[:40]!r} (we offer {ACCEPT_ENCODING})")

    def add(self, raw: bytes) -> None:
        """Append one raw (still encoded) chunk; raises BodyTooLarge past the cap, UndecodableBody on bad data."""
        if self.full:
            return
        if self._inflate is None:
            self._append(raw)
            return
        data = raw
        while data and not self.full:
            try:
                out = self._inflate.decompress(data, self.cap - self.size + 1)
            except zlib.error as exc:
                if not self._raw_deflate_fallback or self.size:
                    raise UndecodableBody(f"compressed body does not decode: {exc}") from None
                self._inflate, self._raw_deflate_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._raw_deflate_fallback = False
            self._append(out)
            data = self._inflate.unconsumed_tail

    def finish(self) -> bytes:
        """The whole decoded body (its first ``cap`` bytes when truncated)."""
        if self._inflate is not None and not self.full:
            try:
                # Bounded like every other step: a stream cut short can still hold buffered output.
                self._append(self._inflate.flush(self.cap - self.size + 1))
            except zlib.error as exc:
                raise UndecodableBody(f"compressed body does not decode: {exc}") from None
        return b"".join(self._parts)

    def _append(self, chunk: bytes) -> None:
        if self.size + len(chunk) > self.cap:
            if not self.truncate:
                self.size += len(chunk)
                raise BodyTooLarge(f"body larger than {self.cap} bytes after decompression")
            chunk, self.full = chunk[: self.cap - self.size], True
        self.size += len(chunk)
        if chunk:
            self._parts.append(chunk)


async def read_capped(response: httpx.Response, cap: int, *, truncate: bool = False) -> bytes:
    """Stream ``response``'s body, decoding gzip/deflate ourselves; stop as soon as it exceeds ``cap``.

    The caller's total deadline must be around this (``request_capped`` does it); on its own it bounds memory only.
    """
    body = CappedBody(response.headers.get("content-encoding"), cap, truncate=truncate)
    async for raw in response.aiter_raw():
        body.add(raw)
        if body.full:
            break  # the rest is never read: closing the stream drops the connection
    return body.finish()


async def request_capped(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    cap: int = ANSWER_EXCERPT_BYTES,
    truncate: bool = True,
    deadline: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request and read its answer capped, all under one total ``deadline`` (default: the client's timeout).

    Returns a plain ``httpx.Response`` holding the decoded (capped) body, so ``.text``, ``.json()`` and ``.headers``
    work as usual; an undecodable body reads as empty when ``truncate`` (the status still counts), raises otherwise.
    Raises ``httpx.HTTPError`` (``TotalTimeout`` for the deadline) like ``client.request`` does.
    """
    seconds = deadline if deadline is not None else client_deadline(client)
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **(kwargs.pop("headers", None) or {})}
    try:
        async with asyncio.timeout(seconds):
            async with client.stream(method, url, headers=headers, **kwargs) as response:
                try:
                    content = await read_capped(response, cap, truncate=truncate)
                except UndecodableBody:
                    if not truncate:
                        raise
                    content = b""
    except TimeoutError:
        raise TotalTimeout(f"no complete answer within the {seconds:g} s deadline") from None
    kept = [(name, value) for name, value in response.headers.multi_items() if name.lower() not in _DROPPED_HEADERS]
    return httpx.Response(response.status_code, headers=kept, content=content, request=response.request)


def client_deadline(client: httpx.AsyncClient) -> float:
    """The total deadline a client's configured timeout stands for (shared.http sets one number for every phase)."""
    phases = [t for t in (client.timeout.connect, client.timeout.read, client.timeout.write) if t is not None]
    return max(phases) if phases else DEFAULT_DEADLINE_SECONDS

"""Fetching one feed over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx


class FeedFetchError(Exception):
    """The feed could not be fetched; the message says why."""


@dataclass(frozen=True)
class FetchedFeed:
    """The body and headers of a successful fetch."""

    url: str
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)


async def fetch_feed(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> FetchedFeed:
    """GET the feed, refusing bodies over ``max_bytes`` (counted after decompression)."""
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise FeedFetchError(f"HTTP {response.status_code} from {url}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FeedFetchError(f"body larger than {max_bytes} bytes")
                chunks.append(chunk)
            return FetchedFeed(url, b"".join(chunks), dict(response.headers))
    except httpx.HTTPError as exc:
        raise FeedFetchError(f"{type(exc).__name__}: {exc}") from None

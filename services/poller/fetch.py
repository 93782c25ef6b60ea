"""Fetching one feed over HTTP: conditional GET, redirects followed by hand, a total deadline, a size cap."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from services.poller.backoff import parse_retry_after
from shared.capped_read import ACCEPT_ENCODING, BodyTooLarge, UndecodableBody, read_capped
from shared.config import PollerSettings
from shared.errors import RemoteError

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
THROTTLED = frozenset({429, 503})
DRAIN_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Validators:
    """ETag and Last-Modified exactly as the server sent them (header bytes kept as latin-1 text)."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[bytes, bytes]:
        """If-None-Match / If-Modified-Since, byte for byte."""
        headers: dict[bytes, bytes] = {}
        if self.etag is not None:
            headers[b"If-None-Match"] = self.etag.encode("latin-1")
        if self.last_modified is not None:
            headers[b"If-Modified-Since"] = self.last_modified.encode("latin-1")
        return headers


class FeedFetchError(RemoteError):
    """The feed could not be fetched; ``reason`` is a short metric label, the message says why."""

    def __init__(self, message: str, *, reason: str, retry_after: float | None = None, gone: bool = False) -> None:
        super().__init__(message)
        self.reason, self.retry_after, self.gone = reason, retry_after, gone


@dataclass(frozen=True)
class FetchedFeed:
    """The body and headers of a successful fetch (``url``: where the body came from after redirects)."""

    url: str
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    validators: Validators = field(default_factory=Validators)
    permanent_url: str | None = None
    links: tuple[str, ...] = ()
    """Raw ``Link`` header values (WebSub discovery: rel=hub, rel=self)."""


@dataclass(frozen=True)
class NotModified:
    """304: the feed did not change since the validators we sent."""

    permanent_url: str | None = None


class Fetcher:
    """Fetches feeds politely: bounded concurrency overall and per host, one total deadline per fetch."""

    def __init__(self, client: httpx.AsyncClient, settings: PollerSettings) -> None:
        self.client, self.settings = client, settings
        self._all = asyncio.Semaphore(settings.max_concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def fetch(self, url: str, validators: Validators, now: datetime) -> FetchedFeed | NotModified:
        """GET ``url`` conditionally; raises FeedFetchError with a reason on any failure."""
        async with self._all, self._host_slot(url):
            try:
                # httpx has per-phase timeouts only: a server dripping one byte a second never trips them.
                async with asyncio.timeout(self.settings.timeout):
                    return await self._follow(url, validators, now)
            except TimeoutError:
                raise FeedFetchError(
                    f"no complete answer from {url} within the {self.settings.timeout:g} s deadline", reason="timeout"
                ) from None
            except httpx.HTTPError as exc:
                raise FeedFetchError(f"{type(exc).__name__} fetching {url}: {exc}", reason="network") from None

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.settings.per_host_concurrency)
        return slot

    async def _follow(self, url: str, validators: Validators, now: datetime) -> FetchedFeed | NotModified:
        # Redirects are followed here, not by httpx, so every hop goes through the guarded client again and is
        # counted; a chain of only 301/308 hops tells us the feed moved for good.
        current, permanent, all_permanent = url, None, True
        headers = {b"Accept-Encoding": ACCEPT_ENCODING.encode(), **validators.request_headers()}
        for _hop in range(self.settings.max_redirects + 1):
            async with self.client.stream("GET", current, headers=headers) as response:
                status = response.status_code
                if status in REDIRECTS or status == 304:
                    await _drain(response)
                if status in REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FeedFetchError(f"HTTP {status} from {current} without a Location", reason="redirect")
                    current = str(response.url.join(location))
                    all_permanent = all_permanent and status in PERMANENT_REDIRECTS
                    permanent = current if all_permanent else None
                    continue
                if status == 304:
                    return NotModified(permanent)
                _raise_for_status(status, current, response, now)
                try:
                    content = await read_capped(response, self.settings.max_body_bytes)
                except BodyTooLarge as exc:
                    raise FeedFetchError(f"{exc} from {current}", reason="too_large") from None
                except UndecodableBody as exc:
                    raise FeedFetchError(f"undecodable body from {current}: {exc}", reason="encoding") from None
                links = tuple(response.headers.get_list("link"))
                return FetchedFeed(current, content, _parser_headers(response), _validators(response), permanent, links)
        raise FeedFetchError(f"more than {self.settings.max_redirects} redirects from {url}", reason="redirect")


async def _drain(response: httpx.Response) -> None:
    # Reading the (normally empty) body of a 304 or redirect lets the connection go back to the pool; an unread
    # body makes httpx close it, and half the polls of a healthy fleet are 304s.
    with contextlib.suppress(BodyTooLarge, UndecodableBody):
        await read_capped(response, DRAIN_LIMIT)


def _raise_for_status(status: int, url: str, response: httpx.Response, now: datetime) -> None:
    if status == 200:
        return
    if status == 410:
        message = f"HTTP 410 Gone from {url}: the feed was removed; polling stopped"
        raise FeedFetchError(message, reason="gone", gone=True)
    if status in THROTTLED:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        raise FeedFetchError(f"HTTP {status} from {url}", reason=f"http_{status}", retry_after=retry_after)
    raise FeedFetchError(f"HTTP {status} from {url}", reason=f"http_{status // 100}xx")


def _validators(response: httpx.Response) -> Validators:
    raw = {key.lower(): value for key, value in response.headers.raw}
    etag, modified = raw.get(b"etag"), raw.get(b"last-modified")
    return Validators(
        etag.decode("latin-1") if etag is not None else None,
        modified.decode("latin-1") if modified is not None else None,
    )


def _parser_headers(response: httpx.Response) -> dict[str, str]:
    # feedparser reads the charset from Content-Type; Content-Encoding must not reach it, we decoded already.
    content_type = response.headers.get("content-type")
    return {"content-type": content_type} if content_type else {}

"""The WebSub callback endpoint: hubs verify intent with GET and push content with POST to ``<callback_url>/<id>``.

Security notes (the numbers are in docs/security.md, "Hostile peers"):
- The callback id is checked BEFORE anything else is read: a made-up id gets 410 (push; the spec's "subscription
  deleted", so a hub stops) or 404 (verification) and its connection is closed, without one byte of body read and
  without touching any rate limit. An id that is not even shaped like ours never reaches Redis.
- Only requests to known ids count against the limits: all callbacks together (``max_requests_per_second``, burst
  of 5 s) and each subscription (``per_feed_per_second``, burst 10); over the limit is 429 with Retry-After. So junk
  can never turn a real hub's pushes into 429s.
- A push body is capped at ``PUSH_MAX_BYTES`` after decompression (Content-Length checked first, then every chunk;
  only gzip/deflate decoded, anything else 415), read under ONE deadline of ``PUSH_READ_SECONDS`` (408 after it),
  and at most ``PUSH_READS_AT_ONCE`` bodies are read at a time, so memory stays bounded even for known ids.
- A push is parsed only after its X-Hub-Signature checked out (websub.signature_valid); unsigned or wrongly signed
  content is 403. A client that goes away mid-body is one log line, never a traceback.
- Connections (head deadline, connection cap, no access log) are services/poller/callback_protocol.py's business.
- Log lines name the feed, never the callback id (a capability URL) or any secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Generator
from urllib.parse import urlsplit

import uvicorn
from pydantic import SecretStr
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from services.poller.callback_protocol import MAX_HEAD_BYTES, CallbackProtocol
from services.poller.websub import Subscription
from services.poller.websub_client import Verification, WebSubSubscriber
from shared.capped_read import BodyTooLarge, CappedBody, UndecodableBody
from shared.config import WebSubSettings
from shared.logging import get_logger

log = get_logger(__name__)
Ingest = Callable[[Subscription, bytes, str], Awaitable[int]]
"""Parses and publishes a verified push for its feed; returns how many items were new."""
MAX_BUCKETS = 10_000
PUSH_MAX_BYTES = 1024 * 1024
"""Largest push body accepted, decompressed: a hub pushes the new entries, or the feed; a 1 MiB feed is huge."""
PUSH_READ_SECONDS = 10.0
"""Total deadline for reading one push body (waiting for a reading slot included)."""
PUSH_READS_AT_ONCE = 8
"""Push bodies read at the same time: at most 8 MiB of push bodies in memory, whatever the hubs do."""
DECODED = frozenset({"identity", "gzip", "x-gzip", "deflate"})
ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class TokenBucket:
    """``rate`` requests per second after a burst of ``burst``, on a monotonic clock."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = burst, clock()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class CallbackLimits:
    """The global and per-subscription buckets (in this process; each replica has its own)."""

    def __init__(self, settings: WebSubSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings, self.clock = settings, clock
        rate = settings.max_requests_per_second
        self.overall = TokenBucket(rate, rate * 5, clock)
        self.per_id: dict[str, TokenBucket] = {}

    def admit(self, sub_id: str) -> bool:
        """Whether a request for ``sub_id`` may go on now."""
        if not self.overall.take():
            return False
        bucket = self.per_id.get(sub_id)
        if bucket is None:
            if len(self.per_id) >= MAX_BUCKETS:
                self.per_id.clear()  # ids are random: a flood of made-up ones must not grow memory
            bucket = self.per_id[sub_id] = TokenBucket(self.settings.per_feed_per_second, 10, self.clock)
        return bucket.take()


def create_callback_app(
    subscriber: WebSubSubscriber, ingest: Ingest, settings: WebSubSettings, limits: CallbackLimits | None = None,
) -> Starlette:  # fmt: skip
    """The ASGI app serving ``<path of callback_url>/{id}``."""
    limits = limits or CallbackLimits(settings)
    prefix = urlsplit(settings.callback_url or "").path.rstrip("/")
    reading = asyncio.Semaphore(PUSH_READS_AT_ONCE)

    async def known(sub_id: str) -> tuple[Subscription, SecretStr] | None:
        # Our ids are token_urlsafe(16): 22 characters of [A-Za-z0-9_-]. Anything else is junk, refused before Redis.
        return await subscriber.store.by_id(sub_id) if ID_SHAPE.fullmatch(sub_id) else None

    async def verify(request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        try:
            if await known(sub_id) is None:
                return _closing("not found", 404)
            if not limits.admit(sub_id):
                return _too_many()
            query = request.query_params
            mode, topic, challenge = query.get("hub.mode"), query.get("hub.topic"), query.get("hub.challenge", "")
            if not mode or topic is None or (mode != "denied" and not challenge):
                return PlainTextResponse("not found", status_code=404)
            asked = Verification(mode, topic, challenge, query.get("hub.lease_seconds"), query.get("hub.reason"))
            answer = await subscriber.verify(sub_id, asked)
        except RedisError:
            return PlainTextResponse("try again later", status_code=503)
        if answer is None:
            return PlainTextResponse("not found", status_code=404)
        return PlainTextResponse(answer)

    async def push(request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        refused = _refuse_unread(request)
        if refused is not None:
            return refused
        try:
            found = await known(sub_id)
        except RedisError:
            return _closing("try again later", 503)
        if found is None:
            return _closing("gone", 410)  # nothing read, nothing counted
        if not limits.admit(sub_id):
            return _too_many()
        body = await _read_body(request, reading, found[0])
        if isinstance(body, Response):
            return body
        try:
            record = await subscriber.authenticate(sub_id, request.headers.get("x-hub-signature"), body, found)
            if isinstance(record, str):
                return _refused(record)
            published = await ingest(record, body, request.headers.get("content-type", ""))
            await subscriber.store.note_push(record, subscriber.clock.now(), accepted=True, published=published)
        except RedisError:
            # Nothing was lost: the hub retries a 5xx, and the seen markers drop what did go out.
            return PlainTextResponse("try again later", status_code=503)
        log.info("websub_push", feed=record.feed_url, published=published, bytes=len(body))
        return Response(status_code=202)

    path = f"{prefix}/{{sub_id}}"
    routes = [Route(path, verify, methods=["GET"]), Route(path, push, methods=["POST"])]
    return Starlette(routes=routes)


def _refused(reason: str) -> Response:
    if reason == "unknown subscription":
        return _closing("gone", 410)
    log.warning("websub_push_refused", reason=reason)
    return PlainTextResponse("refused", status_code=403)


def _too_many() -> Response:
    return _closing("too many requests", 429, {"Retry-After": "1"})


def _closing(text: str, status: int, headers: dict[str, str] | None = None) -> Response:
    # An answer given before the body was read closes the connection: otherwise uvicorn would go on reading (and
    # discarding) whatever the client still sends, for as long as it likes.
    return PlainTextResponse(text, status_code=status, headers={**(headers or {}), "Connection": "close"})


def _refuse_unread(request: Request) -> Response | None:
    """413 or 415 from the headers alone."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > PUSH_MAX_BYTES:
        return _closing("body too large", 413)
    if (request.headers.get("content-encoding") or "identity").strip().lower() not in DECODED:
        return _closing("unsupported content encoding", 415)
    return None


async def _read_body(request: Request, reading: asyncio.Semaphore, record: Subscription) -> bytes | Response:
    """The decoded body, read capped and under one total deadline (waiting for a reading slot included)."""
    try:
        async with asyncio.timeout(PUSH_READ_SECONDS), reading:
            body = CappedBody(request.headers.get("content-encoding"), PUSH_MAX_BYTES)
            async for chunk in request.stream():
                body.add(chunk)
            return body.finish()
    except TimeoutError:
        log.warning("websub_push_timeout", feed=record.feed_url, seconds=PUSH_READ_SECONDS)
        return _closing("request timeout", 408)
    except BodyTooLarge:
        return _closing("body too large", 413)
    except UndecodableBody:
        return _closing("undecodable body", 415)
    except ClientDisconnect:
        # One line, not starlette's traceback: a hub (or anyone) hanging up mid-body is routine on the internet.
        log.info("websub_push_disconnected", feed=record.feed_url)
        return _closing("", 400)


class CallbackServer(uvicorn.Server):
    """uvicorn, minus its own signal capture: the poller's stop event ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signals to the process (uvicorn would re-raise SIGTERM after exiting)."""
        yield


async def serve_callbacks(app: Starlette, settings: WebSubSettings, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``websub.listen`` until ``stop`` is set."""
    host, port = settings.host_port
    config = uvicorn.Config(app, host=host, port=port, log_config=None, server_header=False, http=CallbackProtocol,
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES, timeout_keep_alive=5)  # fmt: skip
    server = CallbackServer(config)
    log.info("websub_listening", host=host, port=port)

    async def exit_when_stopped() -> None:
        await stop.wait()
        server.should_exit = True

    stopper = asyncio.create_task(exit_when_stopped())
    try:
        await server.serve()
    finally:
        stopper.cancel()

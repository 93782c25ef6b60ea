"""The WebSub callback endpoint: hubs verify intent with GET and push content with POST to ``<callback_url>/<id>``.

Security notes:
- Requests are rate limited before anything is read: all callbacks together (``max_requests_per_second``, burst of
  5 s) and each subscription (``per_feed_per_second``, burst 10); over the limit is 429 with Retry-After.
- A body is capped at ``poller.max_body_bytes`` after decompression (Content-Length is checked first, then every
  chunk), the same cap as polled feeds, and only gzip/deflate are decoded; over the cap is 413.
- A push is parsed only after its X-Hub-Signature checked out (websub.signature_valid); unknown ids get 410 (the
  spec's "subscription deleted", so a hub stops), unsigned or wrongly signed content 403.
- Log lines name the feed, never the callback id (a capability URL) or any secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Awaitable, Callable, Generator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.poller.body import BodyTooLarge, CappedBody, UnsupportedEncoding
from services.poller.websub import Subscription
from services.poller.websub_client import Verification, WebSubSubscriber
from shared.config import WebSubSettings
from shared.logging import get_logger

log = get_logger(__name__)
Ingest = Callable[[Subscription, bytes, str], Awaitable[int]]
"""Parses and publishes a verified push for its feed; returns how many items were new."""
MAX_BUCKETS = 10_000
MAX_CONNECTIONS = 64


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
    subscriber: WebSubSubscriber, ingest: Ingest, settings: WebSubSettings, max_body_bytes: int,
    limits: CallbackLimits | None = None,
) -> Starlette:  # fmt: skip
    """The ASGI app serving ``<path of callback_url>/{id}``."""
    limits = limits or CallbackLimits(settings)
    prefix = urlsplit(settings.callback_url or "").path.rstrip("/")

    async def verify(request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        if not limits.admit(sub_id):
            return _too_many()
        query = request.query_params
        mode, topic, challenge = query.get("hub.mode"), query.get("hub.topic"), query.get("hub.challenge", "")
        if not mode or topic is None or (mode != "denied" and not challenge):
            return PlainTextResponse("not found", status_code=404)
        asked = Verification(mode, topic, challenge, query.get("hub.lease_seconds"), query.get("hub.reason"))
        try:
            answer = await subscriber.verify(sub_id, asked)
        except RedisError:
            return PlainTextResponse("try again later", status_code=503)
        if answer is None:
            return PlainTextResponse("not found", status_code=404)
        return PlainTextResponse(answer)

    async def push(request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        if not limits.admit(sub_id):
            return _too_many()
        body = await _read_capped(request, max_body_bytes)
        if isinstance(body, Response):
            return body
        try:
            found = await subscriber.authenticate(sub_id, request.headers.get("x-hub-signature"), body)
            if isinstance(found, str):
                return _refused(found)
            published = await ingest(found, body, request.headers.get("content-type", ""))
            await subscriber.store.note_push(found, subscriber.clock.now(), accepted=True, published=published)
        except RedisError:
            # Nothing was lost: the hub retries a 5xx, and the seen markers drop what did go out.
            return PlainTextResponse("try again later", status_code=503)
        log.info("websub_push", feed=found.feed_url, published=published, bytes=len(body))
        return Response(status_code=202)

    path = f"{prefix}/{{sub_id}}"
    routes = [Route(path, verify, methods=["GET"]), Route(path, push, methods=["POST"])]
    return Starlette(routes=routes)


def _refused(reason: str) -> Response:
    if reason == "unknown subscription":
        return PlainTextResponse("gone", status_code=410)
    log.warning("websub_push_refused", reason=reason)
    return PlainTextResponse("refused", status_code=403)


def _too_many() -> Response:
    return PlainTextResponse("too many requests", status_code=429, headers={"Retry-After": "1"})


async def _read_capped(request: Request, cap: int) -> bytes | Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return PlainTextResponse("body too large", status_code=413)
    try:
        body = CappedBody(request.headers.get("content-encoding"), cap)
        async for chunk in request.stream():
            body.add(chunk)
        return body.finish()
    except BodyTooLarge:
        return PlainTextResponse("body too large", status_code=413)
    except (UnsupportedEncoding, zlib.error):
        return PlainTextResponse("unsupported content encoding", status_code=415)


class QuietH11Protocol(H11Protocol):
    """HTTP/1.1 without access log lines: their paths hold the callback ids, which are capabilities.

    Per server, on purpose: uvicorn's ``access_log=False`` empties the process-wide "uvicorn.access" logger, which
    would silence the console's (redacted) access log in ``tripwire run`` too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class CallbackServer(uvicorn.Server):
    """uvicorn, minus its own signal capture: the poller's stop event ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signals to the process (uvicorn would re-raise SIGTERM after exiting)."""
        yield


async def serve_callbacks(app: Starlette, settings: WebSubSettings, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``websub.listen`` until ``stop`` is set."""
    host, port = settings.host_port
    config = uvicorn.Config(app, host=host, port=port, log_config=None, server_header=False, http=QuietH11Protocol,
                            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5)  # fmt: skip
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

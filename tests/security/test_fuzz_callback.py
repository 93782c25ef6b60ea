"""Fuzzing the two things strangers hand Tripwire directly: WebSub callback requests and OPML documents.

Bounded for CI: a fixed number of examples each (``max_examples``), no per-example deadline (a busy runner must not
fail them), and marked slow. Properties: the callback server answers every request with one of its documented
statuses (never a 500, never an exception), publishes nothing without a valid signature; the OPML reader returns
http(s) feeds or raises OpmlError (the ``${`` rule, issue 26 item 1, is tested with its fix).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from services.poller.websub import Discovery, SubscriptionStore, new_subscription
from services.poller.websub_client import WebSubSubscriber
from services.poller.websub_server import create_callback_app
from shared.config import WebSubSettings
from shared.redis_server import RedisServer
from shared.streams import StreamNames
from tests.poller.support import ManualClock
from tripwire.opml import OpmlError, read_opml

ANSWERS = {200, 202, 400, 403, 404, 405, 408, 410, 413, 415, 429}
SETTINGS = WebSubSettings(callback_url="http://127.0.0.1:9/websub", max_requests_per_second=1000)
FEED = "http://127.0.0.1:9/feed.xml"
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
header_names = st.one_of(
    st.sampled_from(["content-encoding", "content-type", "x-hub-signature", "content-length", "transfer-encoding"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
)
encodings = st.sampled_from(["gzip", "deflate", "br", "identity", "x-gzip", "zstd", "GZIP", ""])


@st.composite
def callback_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes, dict[str, str]]:
    """(method, id kind, headers, body, query): ids are the known one, a made-up one or anything at all."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    kind = draw(st.sampled_from(["known", "made-up", "any"]))
    headers = draw(st.dictionaries(header_names, header_text, max_size=5))
    headers.pop("content-length", None)  # httpx sets it from the body; a wrong one is the raw-socket kit's job
    headers.pop("transfer-encoding", None)
    if draw(st.booleans()):
        headers["content-encoding"] = draw(encodings)
    body = draw(st.one_of(st.binary(max_size=2048), st.just(b"\x1f\x8b\x08\x00" + bytes(64))))
    query = draw(st.dictionaries(st.sampled_from(["hub.mode", "hub.topic", "hub.challenge", "hub.lease_seconds",
                                                  "hub.reason"]), header_text, max_size=5))  # fmt: skip
    return method, kind, headers, body, query


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(callback_requests(), min_size=1, max_size=5), any_id=st.text(max_size=30))
def test_the_callback_server_answers_any_request_with_a_documented_status(
    redis_server: RedisServer, requests: list[tuple[str, str, dict[str, str], bytes, dict[str, str]]], any_id: str
):
    asyncio.run(_exercise(redis_server.url, requests, any_id))


async def _exercise(url: str, requests: list[tuple[str, str, dict[str, str], bytes, dict[str, str]]], any_id: str):
    redis = Redis.from_url(url)
    published: list[bytes] = []

    async def ingest(_record: object, body: bytes, _content_type: str) -> int:
        published.append(body)
        return 1

    try:
        store = SubscriptionStore(redis, StreamNames("fuzz:"))
        async with httpx.AsyncClient() as outbound:
            subscriber = WebSubSubscriber(SETTINGS, redis, store, outbound, ManualClock(), random.Random(0))
            record, secret = new_subscription(FEED, Discovery("http://127.0.0.1:9/hub", FEED))
            await store.create(record, secret, datetime(2030, 1, 1, tzinfo=UTC))
            app = create_callback_app(subscriber, ingest, SETTINGS)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://callback") as client:
                for method, kind, headers, body, query in requests:
                    sub_id = {"known": record.id, "made-up": "A" * 22, "any": any_id}[kind]
                    path = "/websub/" + quote(sub_id, safe="")
                    content = body if method in ("POST", "PUT") else None
                    try:
                        answer = await client.request(method, path, headers=headers, content=content, params=query)
                    except httpx.InvalidURL:
                        continue  # an id httpx itself cannot put in a URL never reaches a server
                    assert answer.status_code in ANSWERS, (answer.status_code, answer.text[:200])
        assert not published  # nothing above carries a valid signature
    finally:
        await redis.delete(*[key async for key in redis.scan_iter("fuzz:*")] or ["fuzz:none"])
        await redis.aclose()


outline_attrs = st.dictionaries(
    st.sampled_from(["xmlUrl", "title", "text", "type", "htmlUrl", "category", "language"]),
    st.one_of(header_text, st.sampled_from(["${REDIS_URL}", "https://x.example/${A:-b}", "http://127.0.0.1/f",
                                            "https://feeds.example.net/rss?s=${SLACK_WEBHOOK_URL:-}"])),
    max_size=5,
)  # fmt: skip


@st.composite
def opml_documents(draw: st.DrawFn) -> bytes:
    """OPML-shaped XML with arbitrary outlines, nesting, and now and then raw bytes spliced in."""
    from xml.sax.saxutils import quoteattr

    def outline(depth: int) -> str:
        attrs = " ".join(f"{k}={quoteattr(v)}" for k, v in draw(outline_attrs).items())
        children = "".join(outline(depth + 1) for _ in range(draw(st.integers(0, 2)))) if depth < 3 else ""
        return f"<outline {attrs}>{children}</outline>"

    body = "".join(outline(0) for _ in range(draw(st.integers(0, 4))))
    doc = f'<?xml version="1.0"?><opml version="2.0"><head/><body>{body}</body></opml>'.encode()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(doc)))
        doc = doc[:at] + draw(st.binary(max_size=16)) + doc[at:]
    return doc


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(document=opml_documents())
def test_the_opml_reader_returns_feeds_or_a_clear_error(document: bytes):
    try:
        result = read_opml(document)
    except OpmlError:
        return
    for feed in result.feeds:
        assert feed.url.startswith(("http://", "https://"))

"""WebSub against a real hub on 127.0.0.1: discover, subscribe, verify, push, signatures, renew, unsubscribe."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from services.poller.service import Poller
from services.poller.websub import discover, parse_link_header, signature_valid
from services.poller.websub_server import PUSH_MAX_BYTES
from shared.config import FeedConfig, TripwireConfig
from shared.logging import setup_logging
from tests.poller.support import ManualClock, poller_config, published_items, running_poller, story
from tests.poller.websub_hub import DIGESTS, TestHub
from tripwire.cli_feeds import push_states
from tripwire.local_http import LocalServer, ReceivedRequest, Reply


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hub_feed(hub: str, self_url: str, items: list[dict[str, str]]) -> bytes:
    """RSS 2.0 that advertises its hub with <atom:link> elements, as WordPress feeds do."""
    parts = ['<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>',
             f'<title>Hub feed</title><atom:link rel="hub" href="{escape(hub)}"/>',
             f'<atom:link rel="self" href="{escape(self_url)}"/>']  # fmt: skip
    for item in items:
        parts.append("<item>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in item.items()) + "</item>")
    return "".join([*parts, "</channel></rss>"]).encode()


class Site:
    """A feed on 127.0.0.1 whose items the test changes, advertising ``hub``."""

    def __init__(self, hub: str) -> None:
        self.hub, self.items = hub, [story(1)]
        self.server = LocalServer(self._respond)

    @property
    def url(self) -> str:
        return f"{self.server.url}/feed"

    def body(self) -> bytes:
        if not self.hub:
            return hub_feed("", self.url, self.items).replace(b'<atom:link rel="hub" href=""/>', b"")
        return hub_feed(self.hub, self.url, self.items)

    def _respond(self, _request: ReceivedRequest) -> Reply:
        return Reply(200, self.body(), {"Content-Type": "application/rss+xml"})


async def status_or_closed(client: httpx.AsyncClient, url: str, body: bytes) -> int:
    """The status of a push refused before its body was read: the server answers and closes at once, so a client
    still writing may see the connection reset instead of the answer (413 either way)."""
    try:
        return (await client.post(url, content=body)).status_code
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        return 413


def websub_config(base: TripwireConfig, urls: list[str], port: int, **websub: Any) -> TripwireConfig:
    callback = {"callback_url": f"http://127.0.0.1:{port}/websub", "listen": f"127.0.0.1:{port}", **websub}
    return poller_config(base, urls, websub=callback)


@contextlib.asynccontextmanager
async def serving(poller: Poller) -> AsyncIterator[asyncio.Event]:
    """The poller's callback endpoint, up until the block ends."""
    stop = asyncio.Event()
    task = poller.start_callback_server(stop)
    assert task is not None
    port = poller.settings.websub.host_port[1]
    for _ in range(200):  # wait until uvicorn listens
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
            break
        await asyncio.sleep(0.02)
    try:
        yield stop
    finally:
        stop.set()
        await task


async def subscribed(poller: Poller, hub: TestHub, verifications: int) -> None:
    await poller.websub_tick()
    await asyncio.to_thread(hub.wait_verifications, verifications)


@contextlib.asynccontextmanager
async def subscribed_site(
    redis: Any, base: TripwireConfig
) -> AsyncIterator[tuple[TestHub, Site, TripwireConfig, Poller, str]]:
    """One site behind a hub, polled once and subscribed, its callback served: (hub, site, config, poller, callback)."""
    with TestHub() as hub:
        site = Site(hub.url)
        with site.server:
            config = websub_config(base, [site.url], free_port())
            async with running_poller(config, redis, ManualClock()) as poller, serving(poller):
                await poller.poll_all()
                await subscribed(poller, hub, 1)
                yield hub, site, config, poller, next(iter(hub.subscriptions.values())).callback


@pytest.mark.slow
async def test_subscribe_verify_push_and_poll_publish_each_item_once(redis, default_config):
    with TestHub() as hub:
        site = Site(hub.url)
        with site.server:
            config = websub_config(default_config, [site.url], free_port())
            clock = ManualClock()
            async with running_poller(config, redis, clock) as poller, serving(poller):
                await poller.poll_all()
                await subscribed(poller, hub, 1)
                assert hub.verifications[0][:2] == ("subscribe", 200)
                assert await poller.websub.is_live(site.url)  # type: ignore[union-attr]
                form = hub.requests[0]
                assert form["hub.topic"] == site.url and form["hub.lease_seconds"] == str(10 * 86400)
                assert len(form["hub.secret"]) >= 32
                assert form["hub.callback"].startswith(f"{config.poller.websub.callback_url}/")
                site.items = [story(1), story(2)]
                clock.advance(100)
                statuses = await asyncio.to_thread(hub.publish, site.url, site.body())
                after_push = [item.title for item in await published_items(redis, config)]
                again = (await poller.poll_all())[0]
                state = await poller.states.load(site.url)
                health = await push_states(poller.websub.store, list(poller.feeds.values()), poller.clock.now())  # type: ignore[union-attr]
    assert health[0]["status"] == "live" and health[0]["pushes"] == 1 and health[0]["hub"] == hub.url
    assert hub.requests[0]["hub.secret"] not in json.dumps(health)  # feed health never shows the secret
    assert statuses == [202]
    assert after_push == ["Story 1", "Story 2"]  # the push reached the stream before any poll
    assert (again.found, again.published) == (2, 0)  # the poll finds it seen: published once
    assert state.poll_interval == config.poller.websub.poll_interval  # push live: the safety-net interval
    assert state.last_new_item == clock.now()  # the pushed item counts as news for feed health (not stale)


@pytest.fixture
def debug_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("json", "DEBUG")
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.slow
async def test_forged_and_unsigned_pushes_are_refused_and_no_secret_is_logged(
    redis, default_config, debug_logs, capsys
):
    async with subscribed_site(redis, default_config) as (hub, site, config, _poller, callback):
        forged = hub_feed(hub.url, site.url, [story(9)])
        wrong = "sha256=" + hmac.new(b"guess", forged, hashlib.sha256).hexdigest()
        async with httpx.AsyncClient() as client:
            unsigned = await client.post(callback, content=forged)
            signed_wrong = await client.post(callback, content=forged, headers={"X-Hub-Signature": wrong})
            odd_method = await client.post(callback, content=forged, headers={"X-Hub-Signature": "md5=00"})
            unknown = await client.post(callback.rsplit("/", 1)[0] + "/nope", content=forged)
            too_big = await status_or_closed(client, callback, b"x" * (PUSH_MAX_BYTES + 1))
    captured = capsys.readouterr()
    logs = captured.err + captured.out
    assert "websub_push_refused" in logs and "websub_verified" in logs
    secret, sub_id = hub.requests[0]["hub.secret"], callback.rsplit("/", 1)[1]
    assert secret not in logs and sub_id not in logs
    assert [r.status_code for r in (unsigned, signed_wrong, odd_method)] == [403, 403, 403]
    assert (unknown.status_code, too_big) == (410, 413)
    assert [item.title for item in await published_items(redis, config)] == ["Story 1"]


@pytest.mark.slow
async def test_verification_is_answered_only_for_requests_we_made(redis, default_config):
    async with subscribed_site(redis, default_config) as (_hub, site, _config, poller, callback):
        async with httpx.AsyncClient() as client:

            def ask(mode: str, topic: str = site.url, url: str = callback) -> Any:
                params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": "c-123"}
                return client.get(url, params=params)

            other_topic = await ask("subscribe", topic="http://127.0.0.1:9/other")
            unasked_unsubscribe = await ask("unsubscribe")
            unknown_id = await ask("subscribe", url=callback.rsplit("/", 1)[0] + "/made-up")
            renewal = await ask("subscribe")
        assert await poller.websub.is_live(site.url)  # type: ignore[union-attr]
    assert [r.status_code for r in (other_topic, unasked_unsubscribe, unknown_id)] == [404, 404, 404]
    assert (renewal.status_code, renewal.text) == (200, "c-123")  # the hub re-confirming an active subscription


@pytest.mark.slow
async def test_lease_is_renewed_before_it_ends_and_removed_feeds_are_unsubscribed(redis, default_config):
    with TestHub(lease_seconds=1000, method="sha512") as hub:
        site = Site(hub.url)
        with site.server:
            config = websub_config(default_config, [site.url], free_port())
            clock = ManualClock()
            async with running_poller(config, redis, clock) as poller, serving(poller):
                await poller.poll_all()
                await subscribed(poller, hub, 1)
                clock.advance(700)
                await poller.websub_tick()  # before 80% of the lease: nothing to do
                assert len(hub.requests) == 1
                clock.advance(150)
                await subscribed(poller, hub, 2)  # at 85%: renewed
                record = await poller.websub.store.by_feed(site.url)  # type: ignore[union-attr]
                assert record is not None and record.expires_at == clock.now() + timedelta(seconds=1000)
                site.items = [story(1), story(3)]
                statuses = await asyncio.to_thread(hub.publish, site.url, site.body())
                poller.reload(lambda: [FeedConfig(url="http://127.0.0.1:9/another")])
                await asyncio.sleep(0.05)  # reconcile runs as a task
                await subscribed(poller, hub, 3)
                gone = await poller.websub.store.by_feed(site.url)  # type: ignore[union-attr]
    assert [form["hub.mode"] for form in hub.requests] == ["subscribe", "subscribe", "unsubscribe"]
    assert hub.verifications[2][:2] == ("unsubscribe", 200) and hub.subscriptions == {}
    assert statuses == [202] and gone is None
    assert [item.title for item in await published_items(redis, config)] == ["Story 1", "Story 3"]


def test_signatures_of_every_recognized_method_verify_and_others_do_not():
    body, secret = b"<rss/>", "s3cret"
    for method, digest in DIGESTS.items():
        good = f"{method}={hmac.new(secret.encode(), body, digest).hexdigest()}"
        assert signature_valid(good, body, secret)
        assert not signature_valid(good, body + b" ", secret)
        assert not signature_valid(good, body, "other")
    assert not signature_valid(None, body, secret) and not signature_valid("sha256", body, secret)
    assert not signature_valid("md5=" + hashlib.md5(body).hexdigest(), body, secret)  # noqa: S324


def test_discovery_prefers_link_headers_then_feed_links_and_resolves_relative_urls():
    headers = ['<https://hub.example/>; rel="hub", </feed.xml>; rel=self']
    feed_links = [("hub", "https://other-hub.example/"), ("self", "https://site.example/atom")]
    from_headers = discover(headers, feed_links, "https://site.example/rss")
    from_feed = discover([], feed_links, "https://site.example/rss")
    none = discover([], [("alternate", "https://site.example/")], "https://site.example/rss")
    assert (from_headers.hub, from_headers.topic) == ("https://hub.example/", "https://site.example/feed.xml")
    assert (from_feed.hub, from_feed.topic) == ("https://other-hub.example/", "https://site.example/atom")
    assert (none.hub, none.topic) == (None, "https://site.example/rss")
    assert parse_link_header('<https://h/>; rel="hub self"') == [("hub", "https://h/"), ("self", "https://h/")]
    assert discover(['<javascript:alert(1)>; rel="hub"'], [], "https://s.example/").hub is None


async def test_no_callback_url_means_no_push_and_no_server(redis, default_config):
    config = poller_config(default_config, ["http://127.0.0.1:9/feed"])
    async with running_poller(config, redis) as poller:
        assert poller.websub is None and poller.start_callback_server(asyncio.Event()) is None


@pytest.mark.slow
async def test_a_second_replica_accepts_pushes_rate_limits_hold_and_denial_stops_push(redis, default_config):
    with TestHub() as hub:
        site = Site(hub.url)
        with site.server:
            config = websub_config(default_config, [site.url], free_port(), per_feed_per_second=0.001)
            async with running_poller(config, redis, ManualClock()) as first, serving(first):
                await first.poll_all()
                await subscribed(first, hub, 1)
            async with running_poller(config, redis, ManualClock()) as replica, serving(replica):
                site.items = [story(1), story(5)]
                statuses = await asyncio.to_thread(hub.publish, site.url, site.body())  # restarted: state in Redis
                callback = next(iter(hub.subscriptions.values())).callback
                async with httpx.AsyncClient() as client:
                    denied = await client.get(callback, params={"hub.mode": "denied", "hub.topic": site.url})
                    codes = [(await client.post(callback, content=b"x")).status_code for _ in range(12)]
                status = (await replica.websub.store.by_feed(site.url)).status(replica.clock.now())  # type: ignore[union-attr]
    assert statuses == [202]
    assert codes.count(429) >= 2 and codes[-1] == 429  # burst of 10 per subscription, then refused
    assert denied.status_code == 200 and status == "denied"
    assert [item.title for item in await published_items(redis, config)] == ["Story 1", "Story 5"]


async def test_a_hub_that_refuses_is_retried_with_back_off(redis, default_config):
    with LocalServer(lambda _r: Reply(400, b"topic not allowed")) as refusing:
        site = Site(f"{refusing.url}/hub")
        with site.server:
            config = websub_config(default_config, [site.url], free_port())
            clock = ManualClock()
            async with running_poller(config, redis, clock) as poller:
                await poller.poll_all()
                await poller.websub_tick()
                record = await poller.websub.store.by_feed(site.url)  # type: ignore[union-attr]
                clock.advance(30)
                await poller.websub_tick()  # not due yet
                clock.advance(60)
                await poller.websub_tick()
                again = await poller.websub.store.by_feed(site.url)  # type: ignore[union-attr]
    assert record is not None and record.failures == 1 and "HTTP 400" in (record.last_error or "")
    assert record.status(clock.now()) == "failing" and len(refusing.requests) == 2
    assert again is not None and again.failures == 2


def test_the_callback_server_binds_to_loopback_by_default():
    assert TripwireConfig().poller.websub.host_port == ("127.0.0.1", 9104)
    assert TripwireConfig().poller.websub.enabled is False


@pytest.mark.slow
async def test_a_moved_hub_is_followed_and_a_feed_that_drops_its_hub_is_unsubscribed(redis, default_config):
    with TestHub() as hub, LocalServer(lambda _r: Reply(307, b"", {"Location": hub.url})) as old_hub:
        site = Site(f"{old_hub.url}/hub")
        with site.server:
            config = websub_config(default_config, [site.url], free_port())
            async with running_poller(config, redis, ManualClock()) as poller, serving(poller):
                await poller.poll_all()
                await subscribed(poller, hub, 1)
                live = await poller.websub.is_live(site.url)  # type: ignore[union-attr]
                site.hub = ""
                await poller.poll_all()
                await subscribed(poller, hub, 2)
                gone = await poller.websub.store.by_feed(site.url)  # type: ignore[union-attr]
    assert live and len(old_hub.requests) == 2  # both requests went to the old URL first, then where it pointed
    assert [form["hub.mode"] for form in hub.requests] == ["subscribe", "unsubscribe"]
    assert gone is None and hub.subscriptions == {}


@pytest.mark.slow
@pytest.mark.parametrize("hops", [3, 4])
async def test_hub_redirects_are_followed_three_hops_at_most(redis, default_config, hops):
    # The docs promise "307/308 from a hub are followed (3 hops at most)": the documented number, not the code's
    # constant. A chain of `hops` redirects ends at the real hub; three reach it, a fourth is refused and retried.
    with TestHub() as hub, contextlib.ExitStack() as stack:
        target = hub.url
        chain: list[LocalServer] = []
        for _ in range(hops):
            hop = stack.enter_context(LocalServer(lambda _r, to=target: Reply(307, b"", {"Location": to})))
            chain.append(hop)
            target = f"{hop.url}/hub"
        site = Site(target)
        with site.server:
            config = websub_config(default_config, [site.url], free_port())
            clock = ManualClock()
            async with running_poller(config, redis, clock) as poller, serving(poller):
                await poller.poll_all()
                if hops <= 3:
                    await subscribed(poller, hub, 1)
                else:
                    await poller.websub_tick()
                record = await poller.websub.store.by_feed(site.url)  # type: ignore[union-attr]
    assert [len(hop.requests) for hop in chain] == [1] * hops  # each hop asked once, in turn
    if hops <= 3:
        assert [form["hub.mode"] for form in hub.requests] == ["subscribe"]
    else:
        assert hub.requests == []
        assert record is not None and record.failures == 1 and "more than 3 redirects" in (record.last_error or "")

"""WebSub subscriber: subscribe, renew and unsubscribe at hubs, and decide on the hub's verifications of intent.

Delivery semantics: push only adds a faster path. Pushed content is parsed and published by the same functions as
polled content (see Poller.ingest_pushed), so an item that arrives both ways is published once, and the feed keeps
being polled (at ``websub.poll_interval`` while push is live) in case a hub fails silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis

from services.poller.websub import Discovery, Subscription, SubscriptionStore, new_subscription, signature_valid
from shared.capped_read import client_deadline, request_capped
from shared.clock import Clock
from shared.config import WebSubSettings
from shared.errors import RemoteError
from shared.logging import get_logger

log = get_logger(__name__)
HUB_REDIRECTS = frozenset({307, 308})
MAX_HUB_REDIRECTS = 3
MAX_CHALLENGE_CHARS = 1024
HUB_ANSWER_BYTES = 4096  # only 200 characters of a hub's error are quoted
LOCK_MS = 30_000
RETRY_BASE_SECONDS = 60.0
RETRY_CAP_SECONDS = 6 * 3600.0


class HubError(RemoteError):
    """A hub refused or failed a (un)subscription request; the message is safe to log (no secret in it)."""


@dataclass(frozen=True)
class Verification:
    """A hub's verification-of-intent request (the GET query)."""

    mode: str
    topic: str
    challenge: str
    lease_seconds: str | None = None
    reason: str | None = None


class WebSubSubscriber:
    """Keeps one subscription per feed that advertises a hub, from discovery to unsubscription."""

    def __init__(
        self, settings: WebSubSettings, redis: Redis, store: SubscriptionStore, http: httpx.AsyncClient,
        clock: Clock, rng: random.Random,
    ) -> None:  # fmt: skip
        self.settings, self.redis, self.store, self.http = settings, redis, store, http
        self.clock, self.rng = clock, rng

    def callback_for(self, record: Subscription) -> str:
        """The record's own callback URL: unguessable, unique per subscription."""
        return f"{self.settings.callback_url}/{record.id}"

    async def observe(self, feed_url: str, discovery: Discovery) -> None:
        """After a poll: subscribe a feed that (newly) advertises a hub; a feed that stopped is unsubscribed."""
        record = await self.store.by_feed(feed_url)
        if discovery.hub is None:
            if record is not None and record.advertised:
                record.advertised = False
                await self.store.save(record, self.clock.now())  # tick() unsubscribes what is no longer advertised
            return
        if record is not None and (record.hub, record.topic) == (discovery.hub, discovery.topic):
            if not record.advertised:
                record.advertised = True
                await self.store.save(record, self.clock.now())
            return
        fresh, secret = new_subscription(feed_url, discovery)
        await self.store.create(fresh, secret, self.clock.now())
        log.info("websub_hub_discovered", feed=feed_url, hub=discovery.hub, topic=discovery.topic)

    async def is_live(self, feed_url: str) -> bool:
        """Whether the feed's push is live now (verified, lease running)."""
        record = await self.store.by_feed(feed_url)
        return record is not None and record.live(self.clock.now())

    async def reconcile(self, configured: Collection[str]) -> None:
        """Schedule every subscribed feed that is no longer configured for unsubscription now."""
        for feed_url in await self.store.subscribed_feeds() - set(configured):
            await self.store.schedule(feed_url, self.clock.now())

    async def tick(self, configured: Collection[str]) -> int:
        """Act on every feed whose subscription is due: (re)subscribe, retry, or unsubscribe what is not configured."""
        done = 0
        for feed_url in await self.store.due(self.clock.now()):
            lock = self.store.lock_key(feed_url)
            if not await self.redis.set(lock, "1", nx=True, px=LOCK_MS):
                continue  # another replica is on it
            try:
                record = await self.store.by_feed(feed_url)
                if record is None:
                    await self.redis.zrem(self.store.due_key, feed_url)
                else:
                    await self._attend(record, feed_url in configured and record.advertised)
                done += 1
            finally:
                await self.redis.delete(lock)
        return done

    async def _attend(self, record: Subscription, wanted: bool) -> None:
        now = self.clock.now()
        requested = record.requested_at or now
        timed_out = now - requested >= timedelta(seconds=self.settings.verify_timeout)
        if not wanted:
            if record.pending == "unsubscribe" and not timed_out:
                await self.store.save(record, requested + timedelta(seconds=self.settings.verify_timeout))
            elif record.active and record.pending != "unsubscribe":
                await self._request(record, "unsubscribe")
            else:
                await self.store.delete(record)  # never verified, or the hub never confirmed: pushes now get 410
                log.info("websub_forgotten", feed=record.feed_url)
            return
        if record.denied:
            await self.store.save(record, None)
        elif record.pending == "subscribe" and not timed_out:
            await self.store.save(record, requested + timedelta(seconds=self.settings.verify_timeout))
        elif record.pending == "subscribe":
            await self._failed(record, "the hub did not verify the subscription in time")
        else:
            renew_at = record.renew_at()
            if record.live(now) and renew_at is not None and renew_at > now:
                await self.store.save(record, renew_at)
            else:
                await self._request(record, "subscribe")

    async def _request(self, record: Subscription, mode: str) -> None:
        # Pending is written BEFORE the hub is asked: a hub may verify before it even answers our POST.
        record.pending, record.requested_at = mode, self.clock.now()  # type: ignore[assignment]
        await self.store.save(record, record.requested_at + timedelta(seconds=self.settings.verify_timeout))
        form = {"hub.callback": self.callback_for(record), "hub.mode": mode, "hub.topic": record.topic}
        if mode == "subscribe":
            form["hub.lease_seconds"] = str(int(self.settings.lease))
            form["hub.secret"] = (await self._secret(record)) or ""
            if not record.hub.startswith("https://"):
                # The spec says a secret SHOULD go over HTTPS only; without one, pushes could not be trusted at all.
                log.warning("websub_secret_over_http", feed=record.feed_url, hub=record.hub)
        try:
            await self._post_to_hub(record.hub, form)
        except HubError as exc:
            fresh = await self.store.by_feed(record.feed_url)
            if fresh is not None and fresh.id == record.id and fresh.pending == mode:
                await self._failed(fresh, str(exc))
            return
        log.info("websub_requested", feed=record.feed_url, hub=record.hub, mode=mode)

    async def _secret(self, record: Subscription) -> str | None:
        found = await self.store.by_id(record.id)
        return found[1].get_secret_value() if found else None

    async def _failed(self, record: Subscription, error: str) -> None:
        record.pending, record.failures, record.last_error = None, record.failures + 1, error
        delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(record.failures - 1, 20))
        delay *= self.rng.uniform(1.0, 1.25)
        await self.store.save(record, self.clock.now() + timedelta(seconds=delay))
        log.warning("websub_failed", feed=record.feed_url, hub=record.hub, error=error, failures=record.failures,
                    retry_in=round(delay))  # fmt: skip

    async def _post_to_hub(self, hub: str, form: dict[str, str]) -> None:
        # Hub URLs come from feeds, that is from strangers: the answer is read through the capped reader (only an
        # excerpt is quoted, a gzip bomb inflates no further than that), and the whole exchange, redirects
        # included, has one total deadline, so a hub that drips its answer cannot hold the subscription tick.
        deadline = client_deadline(self.http)
        try:
            async with asyncio.timeout(deadline):
                await self._post_following_moves(hub, form)
        except TimeoutError:
            raise HubError(f"no complete answer from hub {hub} within the {deadline:g} s deadline") from None

    async def _post_following_moves(self, hub: str, form: dict[str, str]) -> None:
        url = hub
        for _hop in range(MAX_HUB_REDIRECTS + 1):
            try:
                response = await request_capped(self.http, "POST", url, cap=HUB_ANSWER_BYTES, data=form)
            except httpx.HTTPError as exc:
                # The exception text names the hub's host, never the form (which holds the secret).
                raise HubError(f"{type(exc).__name__} from hub {url}: {exc}") from None
            if response.status_code in HUB_REDIRECTS and response.headers.get("location"):
                url = str(response.url.join(response.headers["location"]))  # the spec's way to move hubs
                continue
            if 200 <= response.status_code < 300:
                return
            detail = response.text[:200].strip()
            raise HubError(f"HTTP {response.status_code} from hub {url}" + (f": {detail}" if detail else ""))
        raise HubError(f"more than {MAX_HUB_REDIRECTS} redirects from hub {hub}")

    async def verify(self, sub_id: str, request: Verification) -> str | None:
        """The challenge to echo if this verification is for a (un)subscription we asked for, else None (404)."""
        found = await self.store.by_id(sub_id)
        if found is None or len(request.challenge) > MAX_CHALLENGE_CHARS:
            return None
        record, now = found[0], self.clock.now()
        if request.topic != record.topic:
            return None
        if request.mode == "denied":
            record.active, record.pending, record.denied = False, None, (request.reason or "denied by the hub")[:200]
            await self.store.save(record, None)
            log.warning("websub_denied", feed=record.feed_url, hub=record.hub, reason=record.denied)
            return ""
        if request.mode == "unsubscribe" and record.pending == "unsubscribe":
            await self.store.delete(record)
            log.info("websub_unsubscribed", feed=record.feed_url, hub=record.hub)
            return request.challenge
        if request.mode == "subscribe" and (record.pending == "subscribe" or record.active):
            lease = _lease(request.lease_seconds, self.settings.lease)
            record.active, record.pending, record.verified_at = True, None, now
            record.lease_seconds, record.expires_at = lease, now + timedelta(seconds=lease)
            record.failures, record.last_error, record.denied = 0, None, None
            await self.store.save(record, record.renew_at())
            log.info("websub_verified", feed=record.feed_url, hub=record.hub, lease_seconds=lease)
            return request.challenge
        return None

    async def authenticate(
        self, sub_id: str, signature: str | None, body: bytes, found: tuple[Subscription, SecretStr] | None = None
    ) -> Subscription | str:
        """The record a push belongs to when its signature is valid, else why it is refused (``found``: looked up)."""
        if found is None:
            found = await self.store.by_id(sub_id)
        if found is None:
            return "unknown subscription"
        record, secret = found
        if not signature_valid(signature, body, secret.get_secret_value()):
            with contextlib.suppress(Exception):
                await self.store.note_push(record, self.clock.now(), accepted=False)
            return "missing signature" if not signature else "bad signature"
        return record


def _lease(value: str | None, requested: float) -> int:
    # The hub decides the lease; a missing or absurd one is read as what we asked for.
    if value is not None and value.strip().isdigit() and int(value) > 0:
        return min(int(value), 366 * 86400)
    return int(requested)

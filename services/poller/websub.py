"""WebSub (W3C Recommendation) subscriber state: hub discovery, subscription records in Redis, push signatures.

Security notes:
- Each subscription has its own callback URL, ``<callback_url>/<id>`` with a random 128-bit id (a capability URL,
  as the spec recommends), and its own random ``hub.secret``. Pushed content is accepted only with a valid
  ``X-Hub-Signature`` HMAC under that secret, compared in constant time; unsigned content is refused.
- The secret lives in Redis (it must survive a restart and be shared by replicas) in its own hash field, never in
  the JSON record, so a record can be logged or printed without it. It never reaches a log line.
- Hub and self URLs come from strangers' feeds: requests to hubs go through the outbound guard like every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urljoin, urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, SecretStr
from redis.asyncio import Redis

from shared.streams import StreamNames

MAX_URL_CHARS = 2048
SIGNATURE_METHODS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
"""The spec's recognized algorithm names. sha1 stays: most hubs still sign with it, and HMAC-SHA1 is not broken."""
RENEW_AT_FRACTION = 0.8
"""A lease is renewed when 80% of it has passed, leaving a fifth of it to retry a failed renewal."""
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)
PushStatus = Literal["none", "pending", "live", "expired", "denied", "failing"]


@dataclass(frozen=True)
class Discovery:
    """What a feed advertises: its hub (the first one) and its topic (self) URL."""

    hub: str | None
    topic: str


def discover(link_headers: Sequence[str], feed_links: Iterable[tuple[str, str]], fetched_url: str) -> Discovery:
    """Hub and self URL per the spec's order: HTTP Link headers first, else the feed's own link elements.

    Without a self link the URL the feed was fetched from is the topic. Relative URLs are resolved against it;
    anything but an absolute http(s) URL of sane length is ignored.
    """
    header_links = [(rel, href) for value in link_headers for rel, href in parse_link_header(value)]
    links = header_links if any(rel == "hub" for rel, _ in header_links) else list(feed_links)
    hubs = [url for rel, href in links if rel == "hub" and (url := _absolute(href, fetched_url))]
    selves = [url for rel, href in links if rel == "self" and (url := _absolute(href, fetched_url))]
    return Discovery(hubs[0] if hubs else None, selves[0] if selves else fetched_url)


def parse_link_header(value: str) -> list[tuple[str, str]]:
    """(rel, href) pairs of one Link header (RFC 8288); a link with several rels gives one pair each."""
    pairs: list[tuple[str, str]] = []
    for match in _LINK.finditer(value):
        href, params = match.group(1).strip(), match.group(2)
        rel = _REL.search(params)
        if rel is None:
            continue
        pairs.extend((name.lower(), href) for name in (rel.group(1) or rel.group(2) or "").split())
    return pairs


def _absolute(href: str, base: str) -> str | None:
    url = urljoin(base, href.strip())
    if len(url) > MAX_URL_CHARS:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def signature_valid(header: str | None, body: bytes, secret: str) -> bool:
    """Whether ``X-Hub-Signature: method=hex`` is the HMAC of ``body`` under ``secret`` (constant-time compare)."""
    if not header or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    digest = SIGNATURE_METHODS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class Subscription(BaseModel):
    """One feed's subscription at its hub (the JSON record: everything but the secret)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    feed_url: str
    hub: str
    topic: str
    pending: Literal["subscribe", "unsubscribe"] | None = None
    requested_at: AwareDatetime | None = None
    active: bool = False
    verified_at: AwareDatetime | None = None
    lease_seconds: int | None = None
    expires_at: AwareDatetime | None = None
    denied: str | None = None
    advertised: bool = True
    failures: int = 0
    last_error: str | None = None

    def live(self, now: datetime) -> bool:
        """Verified by the hub and its lease not over: pushes are expected."""
        return self.active and self.expires_at is not None and self.expires_at > now

    def renew_at(self) -> datetime | None:
        """When to re-subscribe: 80% into the lease the hub granted."""
        if self.verified_at is None or self.lease_seconds is None:
            return None
        return self.verified_at + timedelta(seconds=self.lease_seconds * RENEW_AT_FRACTION)

    def status(self, now: datetime) -> PushStatus:
        """One word for feed health."""
        if self.denied:
            return "denied"
        if self.live(now):
            return "live"
        if self.active:
            return "expired"
        if self.failures:
            return "failing"
        return "pending"


def new_subscription(feed_url: str, discovery: Discovery) -> tuple[Subscription, SecretStr]:
    """A fresh record with a random callback id and a random secret (43 characters; hubs allow up to 200 bytes)."""
    assert discovery.hub is not None  # noqa: S101 - callers subscribe only feeds that advertise a hub
    record = Subscription(id=secrets.token_urlsafe(16), feed_url=feed_url, hub=discovery.hub, topic=discovery.topic)
    return record, SecretStr(secrets.token_urlsafe(32))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _feed_hash(feed_url: str) -> str:
    return hashlib.sha256(feed_url.encode()).hexdigest()[:32]


class SubscriptionStore:
    """Subscription records in Redis: by callback id, by feed, and a schedule of when each feed needs attention."""

    def __init__(self, redis: Redis, names: StreamNames) -> None:
        self.redis, self.names = redis, names
        self.due_key = names.key("websub", "due")
        self.feeds_key = names.key("websub", "feeds")

    def _sub_key(self, sub_id: str) -> str:
        return self.names.key("websub", "sub", sub_id)

    def _feed_key(self, feed_url: str) -> str:
        return self.names.key("websub", "feed", _feed_hash(feed_url))

    def lock_key(self, feed_url: str) -> str:
        """The key that lets one replica at a time talk to a feed's hub."""
        return self.names.key("websub", "lock", _feed_hash(feed_url))

    async def by_id(self, sub_id: str) -> tuple[Subscription, SecretStr] | None:
        """The record and secret of a callback id, or None."""
        if len(sub_id) > 64:
            return None
        raw = await self.redis.hmget(self._sub_key(sub_id), ["record", "secret"])
        if raw[0] is None or raw[1] is None:
            return None
        return Subscription.model_validate_json(raw[0]), SecretStr(_text(raw[1]))

    async def by_feed(self, feed_url: str) -> Subscription | None:
        """A feed's current record, or None."""
        sub_id = await self.redis.get(self._feed_key(feed_url))
        found = await self.by_id(_text(sub_id)) if sub_id else None
        return found[0] if found else None

    async def create(self, record: Subscription, secret: SecretStr, due: datetime) -> None:
        """Store a new record as the feed's current one (a replaced one is deleted: pushes to it get 410)."""
        old = await self.redis.get(self._feed_key(record.feed_url))
        async with self.redis.pipeline(transaction=True) as pipe:
            if old:
                pipe.delete(self._sub_key(_text(old)))
            pipe.hset(self._sub_key(record.id), mapping={"record": record.model_dump_json(),
                                                          "secret": secret.get_secret_value()})  # fmt: skip
            pipe.set(self._feed_key(record.feed_url), record.id)
            pipe.sadd(self.feeds_key, record.feed_url)
            pipe.zadd(self.due_key, {record.feed_url: due.timestamp()})
            await pipe.execute()

    async def save(self, record: Subscription, due: datetime | None) -> None:
        """Update a record (only if it still exists) and when its feed is next due (None: not scheduled)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._sub_key(record.id), "record", record.model_dump_json())
            if due is None:
                pipe.zrem(self.due_key, record.feed_url)
            else:
                pipe.zadd(self.due_key, {record.feed_url: due.timestamp()})
            await pipe.execute()

    async def delete(self, record: Subscription) -> None:
        """Forget a feed's subscription entirely."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._sub_key(record.id), self._feed_key(record.feed_url))
            pipe.srem(self.feeds_key, record.feed_url)
            pipe.zrem(self.due_key, record.feed_url)
            await pipe.execute()

    async def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Feeds whose subscription needs attention now."""
        raw = await self.redis.zrangebyscore(self.due_key, "-inf", now.timestamp(), start=0, num=limit)
        return [_text(url) for url in raw]

    async def schedule(self, feed_url: str, due: datetime) -> None:
        """Look at a feed's subscription again at ``due``."""
        await self.redis.zadd(self.due_key, {feed_url: due.timestamp()})

    async def subscribed_feeds(self) -> set[str]:
        """Every feed with a record (to unsubscribe those no longer in the config)."""
        return {_text(url) for url in await self.redis.smembers(self.feeds_key)}

    async def note_push(self, record: Subscription, now: datetime, *, accepted: bool, published: int = 0) -> None:
        """Count a push (accepted or refused) without rewriting the record a verification may be writing."""
        field = "pushes" if accepted else "refused"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self._sub_key(record.id), field, 1)
            if accepted:
                pipe.hset(self._sub_key(record.id), "last_push_at", now.isoformat())
            if published:
                pipe.hset(self._sub_key(record.id), "last_new_item_at", now.isoformat())
            await pipe.execute()

    async def last_new_item_at(self, feed_url: str) -> datetime | None:
        """When a push last brought a new item for this feed (feed health's "stale" must count pushes too)."""
        sub_id = await self.redis.get(self._feed_key(feed_url))
        raw = await self.redis.hget(self._sub_key(_text(sub_id)), "last_new_item_at") if sub_id else None
        return datetime.fromisoformat(_text(raw)) if raw else None

    async def push_counts(self, record: Subscription) -> dict[str, str]:
        """pushes, refused and last_push_at of a record, as stored."""
        raw = await self.redis.hmget(self._sub_key(record.id), ["pushes", "refused", "last_push_at"])
        return {k: _text(v) for k, v in zip(("pushes", "refused", "last_push_at"), raw, strict=True) if v}

"""Silences: mute the alerts that match a few matchers for a while, with a reason and who set it (as Alertmanager does).

A silence holds one or more matchers, all of which must match an alert (and the subscription it is routed to):

- ``story``: the alert's story id (a stand-off every outlet follows for days: mute its follow-ups);
- ``topic``: the alert's topic;
- ``feed``: the feed's URL or its title;
- ``place``: a gazetteer place the item names (case-insensitive);
- ``subscription``: the subscription the alert would go to (one channel goes quiet, the others keep getting it).

A silence is active from ``starts_at`` until ``ends_at``; expiring one sets ``ends_at`` to now, so it ends by itself
or by hand, and is kept (listed as expired) for ``EXPIRED_KEPT_SECONDS`` after that. The notifier checks silences
when it routes an alert: a silenced (alert, subscription) pair is not delivered but recorded in the ``silenced``
stream with the silence that matched, so nothing is lost and the console shows it as silenced. Deliveries already
scheduled or held in a digest before the silence was set still go out.

Silences live in one Redis hash (id -> JSON) that every notifier reads once per batch, so a silence set from the
console, the command line or a signed "mute" link takes effect from the next alert each notifier reads.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis

from shared.errors import UsageError
from shared.schemas import Alert
from shared.streams import DATA_FIELD, StreamNames

MatcherField = Literal["story", "topic", "feed", "place", "subscription"]
MATCHER_FIELDS: tuple[MatcherField, ...] = ("story", "topic", "feed", "place", "subscription")
# Expired silences stay listed this long (the console's "expired" list and `tripwire silence list --all`).
EXPIRED_KEPT_SECONDS = 7 * 86400
# The longest silence: a forgotten one must not mute a topic for good.
MAX_DURATION_SECONDS = 90 * 86400
REASON_MAX_CHARS = 500


class Matcher(BaseModel):
    """One condition: ``field`` equals ``value`` (a place or feed title: case-insensitive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: MatcherField
    value: str = Field(min_length=1, max_length=2000)

    def matches(self, alert: Alert, subscription: str) -> bool:
        """Whether this condition holds for ``alert`` routed to ``subscription``."""
        if self.field == "story":
            return alert.story_id == self.value
        if self.field == "topic":
            return alert.topic == self.value
        if self.field == "subscription":
            return subscription == self.value
        if self.field == "feed":
            title = (alert.item.feed.title or "").casefold()
            return self.value == alert.item.feed.url or self.value.casefold() == title
        return any(place.name.casefold() == self.value.casefold() for place in alert.places)

    def __str__(self) -> str:
        return f"{self.field}={self.value}"


class Silence(BaseModel):
    """A silence as stored (JSON in the silences hash)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS)
    created_by: str = Field(min_length=1, max_length=200)
    created_at: AwareDatetime

    def state(self, now: datetime) -> Literal["pending", "active", "expired"]:
        """Pending before it starts, active until it ends, expired after."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def matches(self, alert: Alert, subscription: str, now: datetime) -> bool:
        """Whether this silence mutes ``alert`` for ``subscription`` at ``now`` (every matcher must hold)."""
        return self.state(now) == "active" and all(m.matches(alert, subscription) for m in self.matchers)

    def describe(self) -> str:
        """The matchers as one line, e.g. ``story=s-12 subscription=newsroom``."""
        return " ".join(str(matcher) for matcher in self.matchers)


class SilenceError(UsageError, ValueError):
    """A silence that cannot be set (no matcher, a bad duration or reason) or found."""


def parse_matchers(pairs: Iterable[str]) -> list[Matcher]:
    """``field=value`` strings (the command line's form) as matchers; SilenceError names a bad one."""
    matchers = []
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or field not in MATCHER_FIELDS or not value.strip():
            raise SilenceError(f"matcher {pair!r}: write FIELD=VALUE with FIELD one of {', '.join(MATCHER_FIELDS)}")
        matchers.append(Matcher(field=field, value=value.strip()))
    return matchers


def new_silence(
    matchers: Sequence[Matcher],
    duration_seconds: float,
    reason: str,
    created_by: str,
    now: datetime,
    silence_id: str | None = None,
) -> Silence:
    """A silence starting ``now`` (a random id unless given); SilenceError says what is wrong with the request."""
    if not matchers:
        raise SilenceError("a silence needs at least one matcher (story, topic, feed, place or subscription)")
    if not 0 < duration_seconds <= MAX_DURATION_SECONDS:
        raise SilenceError(f"duration must be more than 0 and at most {MAX_DURATION_SECONDS // 86400} days")
    if not reason.strip():
        raise SilenceError("a silence needs a reason (it is shown to everyone who wonders where the alerts went)")
    try:
        return Silence(
            id=silence_id or secrets.token_hex(8),
            matchers=list(matchers),
            starts_at=now,
            ends_at=now + timedelta(seconds=duration_seconds),
            reason=reason.strip(),
            created_by=created_by.strip() or "unknown",
            created_at=now,
        )
    except ValidationError as exc:
        raise SilenceError(f"silence refused: {exc.errors()[0]['msg']}") from None


def first_match(silences: Iterable[Silence], alert: Alert, subscription: str, now: datetime) -> Silence | None:
    """The first active silence that mutes ``alert`` for ``subscription``, if any."""
    return next((s for s in silences if s.matches(alert, subscription, now)), None)


def silences_key(names: StreamNames) -> str:
    """The hash id -> silence JSON."""
    return names.key("silences")


def silenced_stream(names: StreamNames) -> str:
    """The stream of (alert, subscription, silence) records the notifier writes instead of delivering."""
    return names.key("silenced")


def parse_silences(stored: dict[bytes | str, bytes | str]) -> list[Silence]:
    """The readable silences of a hash as HGETALL returned it (for callers that pipeline the read)."""
    found = []
    for raw in stored.values():
        try:
            found.append(Silence.model_validate_json(raw))
        except ValidationError:
            continue  # a record this build cannot read mutes nothing, rather than stopping every delivery
    return sorted(found, key=lambda s: s.created_at)


class SilenceStore:
    """Silences in Redis: set, list, expire; expired ones are pruned ``EXPIRED_KEPT_SECONDS`` after they end."""

    def __init__(self, redis: Redis, names: StreamNames) -> None:
        self.redis, self.names = redis, names
        self.key = silences_key(names)

    async def add(self, silence: Silence) -> Silence:
        """Store ``silence``."""
        await self.redis.hset(self.key, silence.id, silence.model_dump_json())
        return silence

    async def add_once(self, silence: Silence) -> Silence:
        """Store ``silence`` unless one with its id is kept already (active or expired); the one kept."""
        if await self.redis.hsetnx(self.key, silence.id, silence.model_dump_json()):
            return silence
        return await self.get(silence.id)

    async def all(self, now: datetime) -> list[Silence]:
        """Every silence still kept (pending, active, and expired within the retention), oldest first."""
        silences = parse_silences(await self.redis.hgetall(self.key))
        gone = [s.id for s in silences if (now - s.ends_at).total_seconds() > EXPIRED_KEPT_SECONDS]
        if gone:
            await self.redis.hdel(self.key, *gone)
        return [s for s in silences if s.id not in gone]

    async def active(self, now: datetime) -> list[Silence]:
        """The silences muting alerts at ``now``."""
        return [s for s in await self.all(now) if s.state(now) == "active"]

    async def get(self, silence_id: str) -> Silence:
        """One silence by id; SilenceError when there is none."""
        raw = await self.redis.hget(self.key, silence_id)
        if raw is None:
            raise SilenceError(f"no silence with id {silence_id!r} (see `tripwire silence list --all`)")
        try:
            return Silence.model_validate_json(raw)
        except ValidationError:
            # A damaged record, or one a newer build wrote (list skips it the same way): one line, no traceback.
            raise SilenceError(f"silence {silence_id!r} cannot be read by this build of Tripwire") from None

    async def expire(self, silence_id: str, now: datetime) -> Silence:
        """End a silence now (it stays listed as expired); SilenceError when there is none."""
        silence = await self.get(silence_id)
        if silence.state(now) != "expired":
            silence = silence.model_copy(update={"ends_at": now})
            await self.redis.hset(self.key, silence.id, silence.model_dump_json())
        return silence

    async def silenced_alerts(self, count: int = 200) -> list[dict[str, str]]:
        """The newest records of silenced (alert, subscription) pairs, newest first: alert_id, subscription,
        silence_id, matchers, at."""
        records = []
        for _, fields in await self.redis.xrevrange(silenced_stream(self.names), count=count) or []:
            raw = (fields or {}).get(DATA_FIELD.encode())
            if raw is not None:
                records.append({str(k): str(v) for k, v in json.loads(raw).items()})
        return records


def check_known(matchers: Sequence[Matcher], topics: Iterable[str], subscriptions: Iterable[str]) -> None:
    """SilenceError for a topic or subscription the config does not have: a misspelt one would mute nothing and
    look as if it worked (the console and ``tripwire silence add`` both check)."""
    topics, subscriptions = list(topics), list(subscriptions)
    for matcher in matchers:
        if matcher.field == "topic" and matcher.value not in topics:
            raise SilenceError(f"no topic {matcher.value!r} (topics: {', '.join(topics)})")
        if matcher.field == "subscription" and matcher.value not in subscriptions:
            raise SilenceError(f"no subscription {matcher.value!r} (subscriptions: {', '.join(subscriptions)})")

"""Durable delivery state in Redis: the retry schedule, held digests, dead letters and disabled subscriptions.

Delivery semantics (why each step is atomic):

- ``delivery:<id>`` holds the state of one (message, subscription) delivery: ``queued``, ``held``, ``delivered``
  or ``dead``. It is set with NX when the delivery is first created, in the same Lua script that writes the
  delivery record and its due time (or the held message), so reading an alert twice creates nothing twice.
- ``deliveries`` (hash id -> record) and ``delivery_schedule`` (sorted set id -> due time) are the durable retry
  schedule. The stream entry is acked only after every delivery of it is in the schedule, held, or already final:
  after a crash nothing is lost, because either the entry is still pending (and re-reading it is a no-op for the
  deliveries already created) or the schedule owns the delivery.
- A worker claims due ids under a fenced lease (services/notifier/leases.py): only the holder of the current
  token settles, extends or reschedules a delivery, and lease ends come from Redis TIME.
- Settling (delivered / retry later / dead letter) is one Lua script: the record, the schedule, the state and the
  dead-letter entry change together, and only for the current lease holder. One call settles the outcomes of
  many finished sends (services/notifier/batching.py), each still fenced by its own token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from services.notifier.channel import AlertsMessage, Delivery
from services.notifier.leases import ENQUEUE, Claimed, Lease, LeaseKeys, Leases, Outcome, Window
from services.notifier.routing import delivery_id
from shared.logging import get_logger
from shared.metrics import DEAD_LETTERS
from shared.redis_client import same_slot
from shared.schemas import parse_alerts_message
from shared.streams import DATA_FIELD, StreamNames

log = get_logger(__name__)
STATE_TTL_SECONDS = 14 * 86400
# Messages per digest delivery: Slack's 50 blocks show 21 alerts (two blocks each, header and footer aside).
DIGEST_MAX_MESSAGES = 20

# KEYS: state, held, held_due. ARGV: message id, message json, subscription, due, ttl.
_HOLD = """
if not redis.call('SET', KEYS[1], 'held', 'NX', 'EX', ARGV[5]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery as stored in the schedule, with its history."""

    delivery: Delivery
    last_reason: str = ""
    last_status: int | None = None

    def to_json(self) -> str:
        """Serialise for the records hash."""
        return json.dumps(
            {
                "id": self.delivery.id,
                "subscription": self.delivery.subscription,
                "digest": self.delivery.digest,
                "attempts": self.delivery.attempts,
                "messages": [m.model_dump(mode="json") for m in self.delivery.messages],
                "last_reason": self.last_reason,
                "last_status": self.last_status,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: str | bytes) -> DeliveryRecord:
        """Parse a stored record."""
        doc = json.loads(data)
        messages = tuple(parse_alerts_message(json.dumps(m)) for m in doc["messages"])
        delivery = Delivery(doc["id"], doc["subscription"], messages, bool(doc["digest"]), int(doc["attempts"]))
        return cls(delivery, doc.get("last_reason", ""), doc.get("last_status"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DeliveryStore:
    """Every Redis operation of the notifier's delivery state."""

    def __init__(
        self, redis: Redis, names: StreamNames, dlq_maxlen: int, clock: Callable[[], str] = lambda: ""
    ) -> None:
        self.redis, self.names, self.dlq_maxlen = redis, names, dlq_maxlen
        keys = LeaseKeys(names)
        self.leases = Leases(redis, keys, clock)
        self.records, self.schedule = keys.records, keys.schedule
        self.held_due = names.key("held_due")
        self.disabled_key = names.key("disabled")
        self._enqueue = redis.register_script(ENQUEUE)
        self._hold = redis.register_script(_HOLD)

    def state_key(self, delivery_id: str) -> str:
        """The key holding a delivery's state."""
        return self.names.key("delivery", delivery_id)

    def held_key(self, subscription: str) -> str:
        """The hash of messages held for a subscription's next digest."""
        return self.names.key("held", subscription)

    async def queue_enqueue(self, pipe: Pipeline, delivery: Delivery, delay: float = 0.0) -> None:
        """Add 'create this delivery unless it exists, due ``delay`` s from now (Redis time)' to a transaction."""
        record = DeliveryRecord(delivery).to_json()
        keys = [self.state_key(delivery.id), self.records, self.schedule]
        args: list[str | float] = [self.leases.shift, delivery.id, record, STATE_TTL_SECONDS, delay]
        await self._enqueue(keys=keys, args=args, client=pipe)

    async def queue_hold(
        self, pipe: Pipeline, delivery_id: str, subscription: str, message: AlertsMessage, due: float
    ) -> None:
        """Add 'hold this message for the subscription's digest unless already handled' to a transaction."""
        keys = [self.state_key(delivery_id), self.held_key(subscription), self.held_due]
        args: list[str | float] = [message.id, message.to_json(), subscription, due, STATE_TTL_SECONDS]
        await self._hold(keys=keys, args=args, client=pipe)

    async def claim(self, ids: list[str], lease: float) -> list[tuple[Lease, DeliveryRecord]]:
        """Claim those of ``ids`` still due for ``lease`` seconds; each with its fencing lease and its record."""
        claimed, _disabled = await self.claim_and_defer(ids, lease, {})
        return claimed

    async def claim_and_defer(
        self, ids: list[str], lease: float, defer: dict[str, float], *, now: datetime | None = None
    ) -> tuple[list[tuple[Lease, DeliveryRecord]], set[str]]:
        """One round trip: claim ``ids`` (with their records), move ``defer`` later (pacing), read the disabled
        subscriptions. (claims, disabled). A claimed record this build cannot read is dead-lettered alone (``now``
        is its failure time) and left out: the others of the batch go on."""
        if not ids and not defer:
            return [], set()
        claims, disabled = await self.leases.claim_records(ids, lease, defer)
        readable: list[tuple[Lease, DeliveryRecord]] = []
        unreadable: list[Outcome] = []
        for claim in claims:
            try:
                if not claim.record:
                    raise KeyError("the record is missing")
                readable.append((claim.lease, DeliveryRecord.from_json(claim.record)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # A newer replica's schema version in a rolling upgrade, or a damaged record. Raising here failed
                # the whole batch on every turn (and reported Redis down); it goes to the dead letters instead,
                # raw, with the reason, for 'tripwire dlq replay' once a build that reads it runs.
                unreadable.append(self._unreadable(claim, exc, now or datetime.now(UTC)))
        if unreadable:
            await self.settle(unreadable)
        return readable, disabled

    def _unreadable(self, claim: Claimed, exc: Exception, failed_at: datetime) -> Outcome:
        detail = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        reason = f"unreadable delivery record: {detail}"
        document = unreadable_entry(claim.lease.delivery_id, claim.record, reason, failed_at)
        DEAD_LETTERS.labels(source="delivery").inc()
        log.error("delivery_record_unreadable", delivery_id=claim.lease.delivery_id, reason=reason)
        return Outcome(claim.lease, "dead", (self.state_key(claim.lease.delivery_id),), json.dumps(document))

    async def due_window(self, limit: int) -> Window:
        """Up to ``limit`` due ids with their subscriptions (to pace them before claiming), and the held digests'
        due times, in one round trip (the worker looks at this window on every turn)."""
        return await self.leases.window(limit)

    async def due_count(self, now: float) -> int:
        """Deliveries due at ``now``."""
        return int(await self.redis.zcount(self.schedule, "-inf", now))

    def delivered(self, lease: Lease, covered_ids: list[str]) -> Outcome:
        """The receiver took it: success for the delivery and every (message, subscription) it covered."""
        state_keys = tuple(self.state_key(did) for did in [lease.delivery_id, *covered_ids])
        return Outcome(lease, "delivered", state_keys)

    def dead(self, lease: Lease, record: DeliveryRecord, retryable: bool, failed_at: datetime) -> Outcome:
        """Into the dead-letter stream, with a document to understand and replay it."""
        document = json.dumps(dead_letter_entry(record, retryable, failed_at), ensure_ascii=False)
        return Outcome(lease, "dead", (self.state_key(lease.delivery_id),), document)

    def split(self, lease: Lease) -> Outcome:
        """A digest replaced by smaller ones (already enqueued): out of the schedule."""
        return Outcome(lease, "split", (self.state_key(lease.delivery_id),))

    @staticmethod
    def retry(lease: Lease, record: DeliveryRecord, delay: float) -> Outcome:
        """Kept with its new attempt count, due ``delay`` s from now."""
        return Outcome(lease, "retry", (), record.to_json(), delay)

    async def settle(self, outcomes: list[Outcome]) -> list[str | None]:
        """Apply each outcome whose lease is still ours, in one script call. Per outcome: None when the lease is no
        longer ours (it ran out and another claim owns the delivery: nothing changed), else '' or, for ``dead``,
        the dead-letter entry id."""
        return await self.leases.settle_many(outcomes, STATE_TTL_SECONDS, self.dlq_maxlen, DATA_FIELD)

    async def dead_letter(self, record: DeliveryRecord, retryable: bool, failed_at: datetime) -> str:
        """Dead-letter a delivery nobody holds a lease on (tests and tools; the worker settles a ``dead`` outcome)."""
        entry = dead_letter_entry(record, retryable, failed_at)
        async with self.redis.pipeline(transaction=True) as pipe:
            document = json.dumps(entry, ensure_ascii=False)
            pipe.xadd(self.names.dlq, {DATA_FIELD: document}, maxlen=self.dlq_maxlen, approximate=True)
            pipe.set(self.state_key(record.delivery.id), "dead", ex=STATE_TTL_SECONDS)
            pipe.hdel(self.records, record.delivery.id)
            pipe.zrem(self.schedule, record.delivery.id)
            result = await pipe.execute()
        return _text(result[0])

    async def disable(self, subscription: str, reason: str, at: datetime) -> None:
        """Stop delivering to a subscription (its endpoint answered 410); survives restarts."""
        await self.redis.hset(self.disabled_key, subscription, json.dumps({"reason": reason, "at": at.isoformat()}))

    async def enable(self, subscription: str) -> bool:
        """Deliver to the subscription again; True if it was disabled."""
        return bool(await self.redis.hdel(self.disabled_key, subscription))

    async def disabled(self) -> dict[str, dict[str, Any]]:
        """Subscriptions disabled at runtime, with why and when."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(self.disabled_key))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    async def held_subscriptions_due(self, now: float) -> list[str]:
        """Subscriptions whose held messages are due to be sent as a digest."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(self.held_due))
        return [_text(sub) for sub, due in raw.items() if float(due) <= now]

    async def postpone_held(self, subscription: str, due: float) -> None:
        """Move a subscription's digest to ``due`` (quiet hours started meanwhile)."""
        await self.redis.hset(self.held_due, subscription, due)

    async def flush_held(
        self,
        subscription: str,
        make_delivery: Callable[[str, tuple[AlertsMessage, ...]], Delivery],
        chunk: int = DIGEST_MAX_MESSAGES,
    ) -> list[Delivery]:
        """Turn a subscription's held messages into digest deliveries of at most ``chunk`` messages, atomically.

        Bounded so that a digest after long quiet hours fits the channel's limits (Slack shows 21 alerts per
        message); one rejected message then costs one chunk, not a day of alerts.
        """
        key = self.held_key(subscription)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = cast(dict[bytes, bytes], await pipe.hgetall(key))
                    messages = sorted((parse_alerts_message(v) for v in raw.values()), key=lambda m: m.created_at)
                    deliveries = [
                        make_delivery(subscription, tuple(messages[i : i + chunk]))
                        for i in range(0, len(messages), chunk)
                    ]
                    pipe.multi()  # type: ignore[no-untyped-call]
                    for delivery in deliveries:
                        await self.queue_enqueue(pipe, delivery)
                    for message in messages:
                        pipe.set(self.state_key(_member_id(message, subscription)), "queued", ex=STATE_TTL_SECONDS)
                    pipe.delete(key)
                    pipe.hdel(self.held_due, subscription)
                    await pipe.execute()
                    return deliveries
                except WatchError:
                    continue

    async def schedule_size(self) -> int:
        """Deliveries in the schedule (due or not)."""
        return int(await self.redis.zcard(self.schedule))


def _member_id(message: AlertsMessage, subscription: str) -> str:
    return delivery_id(message.id, subscription)


def dead_letter_entry(record: DeliveryRecord, retryable: bool, failed_at: datetime) -> dict[str, Any]:
    """The dead-letter document of a delivery: enough to understand it and to replay it."""
    delivery = record.delivery
    return {
        "kind": "delivery",
        "delivery_id": delivery.id,
        "subscription": delivery.subscription,
        "digest": delivery.digest,
        "reason": record.last_reason,
        "status": record.last_status,
        "retryable": retryable,
        "attempts": delivery.attempts,
        "failed_at": failed_at.isoformat(),
        "messages": [m.model_dump(mode="json") for m in delivery.messages],
    }


def unreadable_entry(delivery: str, raw: str, reason: str, failed_at: datetime) -> dict[str, Any]:
    """The dead letter of a record this build cannot read: the raw record and why. Where the record still has the
    shape of a delivery (say, one message of a newer schema version), it is a ``delivery`` entry with the messages
    as stored, so a build that reads them can replay it; otherwise only the raw text is kept, for an operator."""
    doc: Any
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    entry: dict[str, Any] = {
        "kind": "unreadable_delivery", "delivery_id": delivery, "reason": reason, "status": None,
        "retryable": False, "failed_at": failed_at.isoformat(), "raw": raw,
    }  # fmt: skip
    if isinstance(doc, dict) and isinstance(doc.get("messages"), list) and isinstance(doc.get("subscription"), str):
        attempts = doc.get("attempts")
        entry.update(kind="delivery", subscription=doc["subscription"], digest=bool(doc.get("digest")),
                     attempts=attempts if isinstance(attempts, int) else 0, messages=doc["messages"])  # fmt: skip
    return entry


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter stream entry; ``doc`` is its JSON document (other services may add other kinds)."""

    entry_id: str
    doc: dict[str, Any]

    @property
    def is_delivery(self) -> bool:
        """True for a notifier delivery (replayable)."""
        return self.doc.get("kind") == "delivery" and "delivery_id" in self.doc

    @property
    def is_entry(self) -> bool:
        """True for a stream entry a consumer could not handle (invalid, unknown version, poison): replayable."""
        return bool(self.doc.get("source")) and (bool(self.doc.get("fields")) or self.doc.get("data") is not None)


class DeadLetters:
    """Reading, replaying and dropping dead-letter entries (the ``tripwire dlq`` commands)."""

    def __init__(self, store: DeliveryStore) -> None:
        self.store, self.redis, self.stream = store, store.redis, store.names.dlq

    async def entries(self, count: int = 1000) -> list[DeadLetter]:
        """Oldest first."""
        raw = cast(list[tuple[bytes, dict[bytes, bytes]]], await self.redis.xrange(self.stream, count=count))
        return [self._parse(entry_id, fields) for entry_id, fields in raw]

    async def get(self, entry_id: str) -> DeadLetter | None:
        """One entry by id."""
        raw = cast(
            list[tuple[bytes, dict[bytes, bytes]]], await self.redis.xrange(self.stream, min=entry_id, max=entry_id)
        )
        return self._parse(*raw[0]) if raw else None

    async def replay(self, letter: DeadLetter, due: float) -> str:
        """Put a dead delivery back in the schedule with a fresh attempt count, and remove it from the stream."""
        doc = letter.doc
        raw = doc.get("raw")
        if isinstance(raw, str):
            # A record this build could not read (a newer schema version): put back as it was stored, never parsed
            # here, so replaying it cannot fail; a build that reads it sends it, this one dead-letters it again.
            delivery_id, record = str(doc["delivery_id"]), raw
        else:
            messages = tuple(parse_alerts_message(json.dumps(m)) for m in doc["messages"])
            delivery = Delivery(doc["delivery_id"], doc["subscription"], messages, bool(doc.get("digest")), 0)
            delivery_id, record = delivery.id, DeliveryRecord(delivery).to_json()
        async with self.redis.pipeline(transaction=True) as pipe:
            # The same delivery id (webhook-id) as before: a receiver that did get it can still dedupe.
            pipe.set(self.store.state_key(delivery_id), "queued", ex=STATE_TTL_SECONDS)
            pipe.hset(self.store.records, delivery_id, record)
            pipe.zadd(self.store.schedule, {delivery_id: due})
            # A fresh start: no lease and no "send started" record of an attempt before the dead letter.
            pipe.hdel(self.store.leases.keys.leases, delivery_id)
            pipe.hdel(self.store.leases.keys.sending, delivery_id)
            pipe.xdel(self.stream, letter.entry_id)
            await pipe.execute()
        return delivery_id

    async def replay_entry(self, letter: DeadLetter) -> str:
        """Put a dead-lettered stream entry back on its stream, fields as the producer wrote them (after an upgrade
        that reads its version, or a fix); one MULTI with its removal from the dead-letter stream."""
        doc = letter.doc
        fields = doc.get("fields") or {DATA_FIELD: doc["data"]}
        if not same_slot(self.redis, doc["source"], self.stream):
            # Redis Cluster: the source stream and the dead letters sit in different slots, so no MULTI. Append
            # first, then remove: a crash in between leaves the letter to replay again, never a lost entry.
            entry_id = await self.redis.xadd(doc["source"], fields)
            await self.redis.xdel(self.stream, letter.entry_id)
            return _text(entry_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            # Appended as a new entry (new id): the consumer group reads it like any other, exactly once.
            pipe.xadd(doc["source"], fields)
            pipe.xdel(self.stream, letter.entry_id)
            result = await pipe.execute()
        return _text(result[0])

    async def drop(self, entry_ids: list[str]) -> int:
        """Delete entries; returns how many existed."""
        return int(await self.redis.xdel(self.stream, *entry_ids)) if entry_ids else 0

    @staticmethod
    def _parse(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
        raw = fields.get(DATA_FIELD.encode(), b"{}")
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {"reason": "unreadable entry"}
        return DeadLetter(_text(entry_id), doc if isinstance(doc, dict) else {"reason": "unreadable entry"})

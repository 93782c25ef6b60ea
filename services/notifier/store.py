"""Durable delivery state in Redis: the retry schedule, held digests, dead letters and disabled subscriptions.

Delivery semantics (why each step is atomic):

- ``delivery:<id>`` holds the state of one (message, subscription) delivery: ``queued``, ``held``, ``delivered``
  or ``dead``. It is set with NX when the delivery is first created, in the same Lua script that writes the
  delivery record and its due time (or the held message), so reading an alert twice creates nothing twice.
- ``deliveries`` (hash id -> record) and ``delivery_schedule`` (sorted set id -> due time) are the durable retry
  schedule. The stream entry is acked only after every delivery of it is in the schedule, held, or already final:
  after a crash nothing is lost, because either the entry is still pending (and re-reading it is a no-op for the
  deliveries already created) or the schedule owns the delivery.
- A worker claims due ids by pushing their due time forward by a lease (Lua, atomic), so concurrent workers do not
  send the same delivery; a worker that dies mid-send leaves the delivery to be claimed again when the lease ends.
- Settling (delivered / retry later / dead letter) is one MULTI/EXEC: the record, the schedule, the state and the
  dead-letter entry change together.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from services.notifier.channel import AlertsMessage, Delivery
from services.notifier.routing import delivery_id
from shared.schemas import parse_alerts_message
from shared.streams import DATA_FIELD, StreamNames

STATE_TTL_SECONDS = 14 * 86400

# KEYS: state, records, schedule. ARGV: id, record, due, ttl. Creates the delivery unless it already exists.
_ENQUEUE = """
if not redis.call('SET', KEYS[1], 'queued', 'NX', 'EX', ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""
# KEYS: state, held, held_due. ARGV: message id, message json, subscription, due, ttl.
_HOLD = """
if not redis.call('SET', KEYS[1], 'held', 'NX', 'EX', ARGV[5]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
# KEYS: schedule. ARGV: now, lease_until, limit. Claims due ids by moving them to the end of the lease.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
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

    def __init__(self, redis: Redis, names: StreamNames, dlq_maxlen: int) -> None:
        self.redis, self.names, self.dlq_maxlen = redis, names, dlq_maxlen
        self.records = names.key("deliveries")
        self.schedule = names.key("delivery_schedule")
        self.held_due = names.key("held_due")
        self.disabled_key = names.key("disabled")
        self._enqueue = redis.register_script(_ENQUEUE)
        self._hold = redis.register_script(_HOLD)
        self._claim = redis.register_script(_CLAIM)

    def state_key(self, delivery_id: str) -> str:
        """The key holding a delivery's state."""
        return self.names.key("delivery", delivery_id)

    def held_key(self, subscription: str) -> str:
        """The hash of messages held for a subscription's next digest."""
        return self.names.key("held", subscription)

    async def queue_enqueue(self, pipe: Pipeline, delivery: Delivery, due: float) -> None:
        """Add 'create this delivery unless it exists' to a transaction."""
        record = DeliveryRecord(delivery).to_json()
        keys = [self.state_key(delivery.id), self.records, self.schedule]
        await self._enqueue(keys=keys, args=[delivery.id, record, due, STATE_TTL_SECONDS], client=pipe)

    async def queue_hold(
        self, pipe: Pipeline, delivery_id: str, subscription: str, message: AlertsMessage, due: float
    ) -> None:
        """Add 'hold this message for the subscription's digest unless already handled' to a transaction."""
        keys = [self.state_key(delivery_id), self.held_key(subscription), self.held_due]
        args: list[str | float] = [message.id, message.to_json(), subscription, due, STATE_TTL_SECONDS]
        await self._hold(keys=keys, args=args, client=pipe)

    async def claim_due(self, now: float, lease: float, limit: int) -> list[DeliveryRecord]:
        """Claim up to ``limit`` due deliveries for ``lease`` seconds."""
        ids = cast(list[bytes], await self._claim(keys=[self.schedule], args=[now, now + lease, limit]))
        if not ids:
            return []
        raw = cast(list[bytes | None], await self.redis.hmget(self.records, [_text(i) for i in ids]))
        records = [DeliveryRecord.from_json(data) for data in raw if data is not None]
        return records

    async def extend_lease(self, delivery_id: str, until: float) -> None:
        """Push the due time of a claimed delivery forward (it waited for its rate limit)."""
        await self.redis.zadd(self.schedule, {delivery_id: until}, xx=True)

    async def due_count(self, now: float) -> int:
        """Deliveries due at ``now``."""
        return int(await self.redis.zcount(self.schedule, "-inf", now))

    async def mark_delivered(self, delivery: Delivery, covered_ids: list[str]) -> None:
        """The receiver took it: record success for the delivery and every (message, subscription) it covered."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for did in [delivery.id, *covered_ids]:
                pipe.set(self.state_key(did), "delivered", ex=STATE_TTL_SECONDS)
            pipe.hdel(self.records, delivery.id)
            pipe.zrem(self.schedule, delivery.id)
            await pipe.execute()

    async def reschedule(self, record: DeliveryRecord, due: float) -> None:
        """Keep the delivery in the schedule with its new attempt count and due time."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.records, record.delivery.id, record.to_json())
            pipe.zadd(self.schedule, {record.delivery.id: due})
            await pipe.execute()

    async def dead_letter(self, record: DeliveryRecord, retryable: bool, failed_at: datetime) -> str:
        """Move the delivery from the schedule to the dead-letter stream, with its reason, status and attempts."""
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
        self, subscription: str, make_delivery: Callable[[str, tuple[AlertsMessage, ...]], Delivery], due: float
    ) -> Delivery | None:
        """Turn a subscription's held messages into one digest delivery, atomically (WATCH/MULTI)."""
        key = self.held_key(subscription)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = cast(dict[bytes, bytes], await pipe.hgetall(key))
                    if not raw:
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hdel(self.held_due, subscription)
                        await pipe.execute()
                        return None
                    messages = tuple(parse_alerts_message(v) for v in raw.values())
                    delivery = make_delivery(subscription, messages)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    await self.queue_enqueue(pipe, delivery, due)
                    for message in messages:
                        pipe.set(self.state_key(_member_id(message, subscription)), "queued", ex=STATE_TTL_SECONDS)
                    pipe.delete(key)
                    pipe.hdel(self.held_due, subscription)
                    await pipe.execute()
                    return delivery
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


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter stream entry; ``doc`` is its JSON document (other services may add other kinds)."""

    entry_id: str
    doc: dict[str, Any]

    @property
    def is_delivery(self) -> bool:
        """True for a notifier delivery (replayable)."""
        return self.doc.get("kind") == "delivery" and "delivery_id" in self.doc


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
        messages = tuple(parse_alerts_message(json.dumps(m)) for m in doc["messages"])
        delivery = Delivery(doc["delivery_id"], doc["subscription"], messages, bool(doc.get("digest")), 0)
        async with self.redis.pipeline(transaction=True) as pipe:
            # The same delivery id (webhook-id) as before: a receiver that did get it can still dedupe.
            pipe.set(self.store.state_key(delivery.id), "queued", ex=STATE_TTL_SECONDS)
            pipe.hset(self.store.records, delivery.id, DeliveryRecord(delivery).to_json())
            pipe.zadd(self.store.schedule, {delivery.id: due})
            pipe.xdel(self.stream, letter.entry_id)
            await pipe.execute()
        return delivery.id

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

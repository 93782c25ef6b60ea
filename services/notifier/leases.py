"""Fenced leases on the delivery schedule: one Lua script each to look at, claim, extend and settle deliveries.

Why fencing: a lease is a due time pushed forward, and a lease can run out while its holder is still working
(a stalled event loop, a paused VM). Without a fence the next claimer sends again and the first holder's late
settle then reschedules or re-finalises a delivery that someone else already settled. So:

- every claim hands out a fresh token (``INCR`` of a counter) and records it in ``delivery_leases``;
- settle, extend and reschedule act only when the caller's token is still the current one; a late holder's
  outcome is discarded (logged and counted), never applied over the newer claim;
- lease ends and due times are computed inside the scripts from Redis ``TIME``, so replicas with skewed
  wall clocks agree (only a test's pinned clock replaces ``TIME``, see ``pinned_time``);
- before the request goes out the holder records "send started" (``delivery_sending``). A delivery claimed
  while that record is set was in flight when its lease ran out: see services/notifier/sender.py for the rule
  (webhooks resend with the same webhook-id; Slack and other channels that cannot de-duplicate do not post again).

Each script takes many deliveries per call (issue 17: round trips, not Redis, were the cost of a delivery): one
call reads a turn's window of due ids with their subscriptions, one claims a batch (and defers the paced ones),
one records "send started" for a batch, one settles the outcomes of several finished sends. Every delivery in a
call is still fenced by its own token: a stale one is skipped and the others apply.

Every key reaches the scripts through KEYS (none is built in Lua), so the keys can carry Redis Cluster hash tags;
all of them are in the notifier's one hash-tag group (shared/streams.py), so each script runs on one node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from shared.clock import Clock, SystemClock
from shared.streams import StreamNames

# ARGV[1] is '' (use Redis TIME) or a pinned clock's time (tests).
_NOW = """
local now = tonumber(ARGV[1])
if not now then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
"""


def _with_now(body: str) -> str:
    """A script that starts by setting ``now`` from ARGV[1] or Redis TIME."""
    return _NOW + body


# KEYS: schedule. ARGV: time, limit. The ids due now, oldest first (read only: nothing is claimed).
PEEK = _with_now("""
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
""")
# KEYS: schedule, records, held_due. ARGV: time, limit. Read only: the worker's view of one turn in one round trip.
# Returns {id, subscription ('' when the record is missing or unreadable) per id due now, oldest first;
# the held_due hash flat (subscription, digest due time)}.
WINDOW = _with_now("""
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local owners = {}
if #ids > 0 then
  local records = redis.call('HMGET', KEYS[2], unpack(ids))
  for i, id in ipairs(ids) do
    local name = ''
    if records[i] then
      local ok, doc = pcall(cjson.decode, records[i])
      if ok and type(doc) == 'table' and type(doc.subscription) == 'string' then name = doc.subscription end
    end
    owners[#owners + 1] = id
    owners[#owners + 1] = name
  end
end
return {owners, redis.call('HGETALL', KEYS[3])}
""")
# KEYS: schedule, leases, token counter, sending, records, disabled.
# ARGV: time, lease seconds, number of ids to claim n, the n ids, then (id, delay) pairs to defer.
# Claims each of the n ids still due (a fresh token each); moves each deferred id that is still due and unclaimed
# later by its delay (pacing: never a leased one, whose due time lies in the future). Returns {id, token,
# "send started" token ('' if none), record ('' if missing) per claim; the disabled subscriptions}.
CLAIM = _with_now("""
local out = {}
local n = tonumber(ARGV[3])
for i = 4, 3 + n do
  local id = ARGV[i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= now then
    local token = tostring(redis.call('INCR', KEYS[3]))
    redis.call('HSET', KEYS[2], id, token)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = redis.call('HGET', KEYS[4], id) or ''
    out[#out + 1] = redis.call('HGET', KEYS[5], id) or ''
  end
end
for i = 4 + n, #ARGV, 2 do
  local due = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if due and tonumber(due) <= now then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[i + 1]), ARGV[i]) end
end
return {out, redis.call('HKEYS', KEYS[6])}
""")
# KEYS: schedule, leases, sending. ARGV: time, lease seconds, mark ('1': the sends start now), (id, token)...
# Renews each lease that is still current (and records "send started" for it); returns 1 or 0 per lease.
EXTEND = _with_now("""
local out = {}
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[i])
    if ARGV[3] == '1' then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
""")
# KEYS: schedule, records, leases, sending, dead-letter stream, then each outcome's state keys in turn.
# ARGV: time, state ttl, dlq maxlen, dlq field, then 6 per outcome: state ('delivered', 'dead', 'split' or
# 'retry'), id, token, how many state keys it has, payload (dead: the dead-letter document; retry: the new
# record), delay (retry: seconds from now). Each outcome is fenced by its own token: a stale one changes nothing
# and the others still apply. Returns per outcome 0 (stale token), 1 (applied) or the dead-letter entry id.
SETTLE = _with_now("""
local out = {}
local k = 6
for i = 5, #ARGV, 6 do
  local state, id, token, nkeys = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  if redis.call('HGET', KEYS[3], id) ~= token then
    out[#out + 1] = 0
  elseif state == 'retry' then
    redis.call('HSET', KEYS[2], id, ARGV[i + 4])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[i + 5]), id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    out[#out + 1] = 1
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    local result = 1
    if state == 'dead' then
      result = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', ARGV[4], ARGV[i + 4])
    end
    for j = k, k + nkeys - 1 do redis.call('SET', KEYS[j], state, 'EX', tonumber(ARGV[2])) end
    out[#out + 1] = result
  end
  k = k + nkeys
end
return out
""")
# KEYS: state, records, schedule. ARGV: time, id, record, ttl, delay. Creates the delivery unless it exists.
ENQUEUE = _with_now("""
if not redis.call('SET', KEYS[1], 'queued', 'NX', 'EX', ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[2])
return 1
""")


@dataclass(frozen=True)
class Lease:
    """One claim: the delivery id, the token that fences it, and the token of an attempt that began sending."""

    delivery_id: str
    token: str
    send_started_by: str = ""

    @property
    def was_in_flight(self) -> bool:
        """A previous holder recorded "send started" and never settled: its request may have arrived."""
        return bool(self.send_started_by)


@dataclass(frozen=True)
class Claimed:
    """One claim with the delivery's record as stored ('' if it is missing)."""

    lease: Lease
    record: str


@dataclass(frozen=True)
class Window:
    """One turn's view: the ids due now with their subscription ('' if unknown), and every held digest's due time."""

    owners: dict[str, str]
    held_due: dict[str, float]


@dataclass(frozen=True)
class Outcome:
    """How to settle one lease: ``delivered``, ``dead`` or ``split`` (final, each of ``state_keys`` is set to it) or
    ``retry`` (``payload`` is the new record, due ``delay`` s from now); ``dead`` puts ``payload`` in the dead
    letters."""

    lease: Lease
    state: str
    state_keys: tuple[str, ...] = ()
    payload: str = ""
    delay: float = 0.0


class LeaseKeys:
    """The key names of the schedule and its leases (built here, never inside Lua)."""

    def __init__(self, names: StreamNames) -> None:
        self.records = names.key("deliveries")
        self.schedule = names.key("delivery_schedule")
        self.leases = names.key("delivery_leases")
        self.sending = names.key("delivery_sending")
        self.tokens = names.key("delivery_lease_seq")
        self.held_due = names.key("held_due")
        self.disabled = names.key("disabled")
        self.dead_letters = names.dlq


def pinned_time(clock: Clock) -> Callable[[], str]:
    """'' for the real clock (the scripts read Redis TIME); a pinned test clock's time otherwise."""
    if isinstance(clock, SystemClock):
        return lambda: ""
    return lambda: repr(clock.now().timestamp())


class Leases:
    """The fenced operations on the schedule; ``clock()`` is '' (Redis TIME) except on a test's pinned clock.

    Each operation takes many deliveries in one script call (one round trip), each fenced by its own token.
    """

    def __init__(self, redis: Redis, keys: LeaseKeys, clock: Callable[[], str] = lambda: "") -> None:
        self.redis, self.keys, self._clock = redis, keys, clock
        self._peek = redis.register_script(PEEK)
        self._window = redis.register_script(WINDOW)
        self._claim = redis.register_script(CLAIM)
        self._extend = redis.register_script(EXTEND)
        self._settle = redis.register_script(SETTLE)

    async def peek_due(self, limit: int) -> list[str]:
        """Ids due now, oldest first, without claiming them."""
        raw = cast(list[bytes], await self._peek(keys=[self.keys.schedule], args=[self.shift, limit]))
        return [_text(i) for i in raw]

    async def window(self, limit: int) -> Window:
        """Up to ``limit`` ids due now with their subscriptions, and the held digests' due times (read only)."""
        k = self.keys
        owners, held = cast(list[list[bytes]], await self._window(
            keys=[k.schedule, k.records, k.held_due], args=[self.shift, limit]
        ))  # fmt: skip
        return Window(
            {_text(owners[i]): _text(owners[i + 1]) for i in range(0, len(owners), 2)},
            {_text(held[i]): float(held[i + 1]) for i in range(0, len(held), 2)},
        )

    async def claim_records(
        self, ids: list[str], lease: float, defer: dict[str, float] | None = None
    ) -> tuple[list[Claimed], set[str]]:
        """Claim those of ``ids`` still due for ``lease`` seconds of Redis time, and move the unclaimed ``defer``
        ids later by their delay (pacing), in one call: (claims with their records, disabled subscriptions)."""
        k = self.keys
        args: list[str | float] = [self.shift, lease, len(ids), *ids]
        for delivery_id, delay in (defer or {}).items():
            args += [delivery_id, delay]
        out, disabled = cast(list[list[bytes]], await self._claim(
            keys=[k.schedule, k.leases, k.tokens, k.sending, k.records, k.disabled], args=args
        ))  # fmt: skip
        claims = [
            Claimed(Lease(_text(out[i]), _text(out[i + 1]), _text(out[i + 2])), _text(out[i + 3]))
            for i in range(0, len(out), 4)
        ]
        return claims, {_text(name) for name in disabled}

    async def claim(self, ids: list[str], lease: float) -> list[Lease]:
        """Claim those of ``ids`` still due, for ``lease`` seconds of Redis time."""
        if not ids:
            return []
        claims, _disabled = await self.claim_records(ids, lease)
        return [claim.lease for claim in claims]

    async def extend_many(self, leases: list[Lease], seconds: float, *, send_starts: bool = False) -> list[bool]:
        """Renew each lease still current to ``seconds`` from now (with ``send_starts``, record that its request
        goes out); True per lease renewed."""
        if not leases:
            return []
        k = self.keys
        args: list[str | float] = [self.shift, seconds, "1" if send_starts else "0"]
        for lease in leases:
            args += [lease.delivery_id, lease.token]
        reply = cast(list[int], await self._extend(keys=[k.schedule, k.leases, k.sending], args=args))
        return [bool(renewed) for renewed in reply]

    async def extend(self, lease: Lease, seconds: float, *, send_starts: bool = False) -> bool:
        """Renew the lease to ``seconds`` from now; with ``send_starts`` also record that the request goes out."""
        [renewed] = await self.extend_many([lease], seconds, send_starts=send_starts)
        return renewed

    async def settle_many(self, outcomes: list[Outcome], ttl: int, maxlen: int, field: str) -> list[str | None]:
        """Apply each outcome whose lease is current; per outcome None (stale token: nothing changed), '' (applied)
        or the dead-letter entry id (``dead``, into the dead letters capped near ``maxlen``, document in ``field``)."""
        if not outcomes:
            return []
        k = self.keys
        keys = [k.schedule, k.records, k.leases, k.sending, k.dead_letters]
        args: list[str | float] = [self.shift, ttl, maxlen, field]
        for outcome in outcomes:
            keys += outcome.state_keys
            lease = outcome.lease
            args += [outcome.state, lease.delivery_id, lease.token, len(outcome.state_keys), outcome.payload,
                     outcome.delay]  # fmt: skip
        reply = cast(list[int | bytes], await self._settle(keys=keys, args=args))
        return [None if result == 0 else "" if result == 1 else _text(cast(bytes, result)) for result in reply]

    async def settle(
        self, lease: Lease, state: str, state_keys: list[str], ttl: int, dead_letter: tuple[str, int, str, str] | None
    ) -> tuple[bool, str]:
        """Finish the delivery (``delivered`` or ``dead``) if ``lease`` is current: (applied, dead-letter entry id);
        ``dead_letter`` is (stream, maxlen, field, document), the stream being this schedule's dead letters."""
        _stream, maxlen, field, doc = dead_letter or (self.keys.dead_letters, 0, "", "")
        [result] = await self.settle_many([Outcome(lease, state, tuple(state_keys), doc)], ttl, maxlen, field)
        return result is not None, result or ""

    async def reschedule(self, lease: Lease, record_json: str, delay: float) -> bool:
        """Store the new record and due time (``delay`` from now) if ``lease`` is current."""
        [result] = await self.settle_many([Outcome(lease, "retry", (), record_json, delay)], 0, 0, "")
        return result is not None

    @property
    def shift(self) -> str:
        """The time argument of every script: '' for Redis TIME."""
        return self._clock()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Fenced leases on the delivery schedule: one Lua script each to peek, claim, extend, settle and reschedule.

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

Every key reaches the scripts through KEYS (none is built in Lua), so the keys can carry Redis Cluster hash tags.
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
# KEYS: schedule, leases, token counter, sending. ARGV: time, lease seconds, ids...
# Claims each given id that is still due; returns id, token, "send started" token ('' if none) per claim.
CLAIM = _with_now("""
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= now then
    local token = tostring(redis.call('INCR', KEYS[3]))
    redis.call('HSET', KEYS[2], id, token)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = redis.call('HGET', KEYS[4], id) or ''
  end
end
return out
""")
# KEYS: schedule, leases, sending. ARGV: time, id, token, lease seconds, mark ('1': the send starts now).
EXTEND = _with_now("""
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[4]), ARGV[2])
if ARGV[5] == '1' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[3]) end
return 1
""")
# KEYS: schedule, records, leases, sending, dead-letter stream, state keys...
# ARGV: id, token, state ('delivered' or 'dead'), state ttl, dlq maxlen, dlq field, dlq document.
# Returns false (stale token), or {1, dead-letter entry id or ''}.
SETTLE = """
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local entry = ''
if ARGV[3] == 'dead' then
  entry = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', ARGV[6], ARGV[7])
end
for i = 6, #KEYS do redis.call('SET', KEYS[i], ARGV[3], 'EX', tonumber(ARGV[4])) end
return {1, entry}
"""
# KEYS: schedule, records, leases, sending. ARGV: time, id, token, record, delay seconds.
RESCHEDULE = _with_now("""
if redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
return 1
""")
# KEYS: schedule. ARGV: time, (id, delay)... Moves unclaimed due ids later (pacing); never touches a leased one,
# whose due time lies in the future.
DEFER = _with_now("""
local moved = 0
for i = 2, #ARGV, 2 do
  local due = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if due and tonumber(due) <= now then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[i + 1]), ARGV[i])
    moved = moved + 1
  end
end
return moved
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


class LeaseKeys:
    """The key names of the schedule and its leases (built here, never inside Lua)."""

    def __init__(self, names: StreamNames) -> None:
        self.records = names.key("deliveries")
        self.schedule = names.key("delivery_schedule")
        self.leases = names.key("delivery_leases")
        self.sending = names.key("delivery_sending")
        self.tokens = names.key("delivery_lease_seq")


def pinned_time(clock: Clock) -> Callable[[], str]:
    """'' for the real clock (the scripts read Redis TIME); a pinned test clock's time otherwise."""
    if isinstance(clock, SystemClock):
        return lambda: ""
    return lambda: repr(clock.now().timestamp())


class Leases:
    """The fenced operations on the schedule; ``clock()`` is '' (Redis TIME) except on a test's pinned clock."""

    def __init__(self, redis: Redis, keys: LeaseKeys, clock: Callable[[], str] = lambda: "") -> None:
        self.redis, self.keys, self._clock = redis, keys, clock
        self._peek = redis.register_script(PEEK)
        self._claim = redis.register_script(CLAIM)
        self._extend = redis.register_script(EXTEND)
        self._settle = redis.register_script(SETTLE)
        self._reschedule = redis.register_script(RESCHEDULE)
        self._defer = redis.register_script(DEFER)

    async def peek_due(self, limit: int) -> list[str]:
        """Ids due now, oldest first, without claiming them."""
        raw = cast(list[bytes], await self._peek(keys=[self.keys.schedule], args=[self.shift, limit]))
        return [_text(i) for i in raw]

    async def claim(self, ids: list[str], lease: float) -> list[Lease]:
        """Claim those of ``ids`` still due, for ``lease`` seconds of Redis time."""
        if not ids:
            return []
        k = self.keys
        raw = cast(list[bytes], await self._claim(
            keys=[k.schedule, k.leases, k.tokens, k.sending], args=[self.shift, lease, *ids]
        ))  # fmt: skip
        return [Lease(_text(raw[i]), _text(raw[i + 1]), _text(raw[i + 2])) for i in range(0, len(raw), 3)]

    async def extend(self, lease: Lease, seconds: float, *, send_starts: bool = False) -> bool:
        """Renew the lease to ``seconds`` from now; with ``send_starts`` also record that the request goes out."""
        k = self.keys
        args: list[str | float] = [self.shift, lease.delivery_id, lease.token, seconds, "1" if send_starts else "0"]
        return bool(await self._extend(keys=[k.schedule, k.leases, k.sending], args=args))

    async def settle(
        self, lease: Lease, state: str, state_keys: list[str], ttl: int, dead_letter: tuple[str, int, str, str] | None
    ) -> tuple[bool, str]:
        """Finish the delivery (``delivered`` or ``dead``) if ``lease`` is current: (applied, dead-letter entry id)."""
        k = self.keys
        stream, maxlen, field, doc = dead_letter or (k.schedule, 0, "", "")
        reply = await self._settle(
            keys=[k.schedule, k.records, k.leases, k.sending, stream, *state_keys],
            args=[lease.delivery_id, lease.token, state, ttl, maxlen, field, doc],
        )
        if not reply:
            return False, ""
        return True, _text(reply[1])

    async def reschedule(self, lease: Lease, record_json: str, delay: float) -> bool:
        """Store the new record and due time (``delay`` from now) if ``lease`` is current."""
        k = self.keys
        args: list[str | float] = [self.shift, lease.delivery_id, lease.token, record_json, delay]
        return bool(await self._reschedule(keys=[k.schedule, k.records, k.leases, k.sending], args=args))

    async def defer(self, delays: dict[str, float]) -> int:
        """Move unclaimed due ids later by their delay (they wait for their rate-limit slot); returns how many."""
        if not delays:
            return 0
        args: list[str | float] = [self.shift]
        for delivery_id, delay in delays.items():
            args += [delivery_id, delay]
        return int(await self._defer(keys=[self.keys.schedule], args=args))

    @property
    def shift(self) -> str:
        """The time argument of every script: '' for Redis TIME."""
        return self._clock()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

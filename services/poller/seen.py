"""Which item ids were published, remembered in bounded memory: time buckets of 8-byte digests.

A marker key per id with its own TTL costs ~130-170 B (key, value, expiry entry). Here each four days
(``BUCKET_SECONDS``; ``seen_ttl`` if that is shorter) are one set holding the first 8 bytes of sha256(id): ~50 B per
remembered id (measured by bench/redis_memory.py), and a bucket expires as a whole once its newest member is older
than ``seen_ttl``. So an id is remembered for at least ``seen_ttl`` and at most one bucket longer (30 days: 30 to 34).
Why four days: a new id is looked up in every bucket of the window, and day-wide buckets (31 lookups and keys per
item) published at 0.4x the marker script's rate, four-day ones (9) at ~0.7x. The width does not depend on
``seen_ttl`` (beyond its own length), so changing that keeps what is remembered. The buckets are shared by all
feeds, not kept per feed: an item id is the same for one article in two feeds, and it must be published once.

False positives: a new id whose digest equals one already remembered is taken as seen and never published. With n
ids remembered the chance per new id is n / 2**64: for 1M items a day over 30 days, 1.6e-12 per item (one lost item
in ~600 billion): far below any other way of losing an item.

The check-and-mark runs in the publish script together with the XADD (services/poller/publish.py), so an id is
marked seen exactly when its item is appended. Before these buckets the poller wrote a marker key per id; the script
also honours such a legacy marker until it expires (at most ``seen_ttl`` after the upgrade).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from redis.asyncio import Redis

from shared.schemas import Item
from shared.streams import StreamNames

BUCKET_SECONDS = 4 * 86400  # see the module docstring
DIGEST_BYTES = 8

# KEYS: items stream, legacy marker, current bucket, older buckets. ARGV: maxlen, field, document, digest, expire_in.
# Atomic on the server: the item is marked seen AND appended, or neither (a crash between the two would lose it, or
# the reverse order publish it twice). -1: the stream holds ``maxlen`` entries the classifier has not read and
# acked (back-pressure, shared/stream_bounds.py): nothing is written, so the refused item stays unseen and the next
# poll publishes it. No MAXLEN on the XADD: unread entries are never trimmed. 0: seen before. 1: published.
PUBLISH_ONCE = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 3, #KEYS do
  if redis.call('SISMEMBER', KEYS[i], ARGV[4]) == 1 then return 0 end
end
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
return 1
"""


def seen_digest(item_id: str) -> bytes:
    """What the buckets store for an id."""
    return hashlib.sha256(item_id.encode()).digest()[:DIGEST_BYTES]


def seen_buckets(names: StreamNames, now: float, ttl: int) -> tuple[list[str], int]:
    """The bucket keys that may hold an id seen within ``ttl`` (current first), and when the current one expires."""
    width = max(1, min(BUCKET_SECONDS, ttl))
    current = int(now) // width
    older = -(-ttl // width)  # ceil: the current bucket and these always cover ttl
    keys = [names.key("seen", str(width), str(bucket)) for bucket in range(current, current - older - 1, -1)]
    return keys, (current + 1) * width + ttl


def publish_once_inputs(
    names: StreamNames, item: Item, document: str, *, now: float, ttl: int, maxlen: int, field: str
) -> tuple[list[str], list[str | int | bytes]]:
    """KEYS and ARGV of ``PUBLISH_ONCE`` for one item."""
    buckets, expire_at = seen_buckets(names, now, ttl)
    keys = [names.items, names.key("seen", item.id), *buckets]
    # Relative, so a clock pinned in the past (tests, replays) cannot expire the bucket at once.
    return keys, [maxlen, field, document, seen_digest(item.id), max(1, expire_at - int(now))]


async def already_seen(
    redis: Redis, names: StreamNames, item_ids: Sequence[str], *, now: float, ttl: int
) -> list[bool]:
    """Whether each id was published within ``ttl``: the same buckets (and legacy marker) the publish script checks."""
    if not item_ids:
        return []
    buckets, _expire_at = seen_buckets(names, now, ttl)
    async with redis.pipeline(transaction=False) as pipe:
        for item_id in item_ids:
            pipe.exists(names.key("seen", item_id))
            digest = seen_digest(item_id)
            for bucket in buckets:
                pipe.sismember(bucket, digest)  # type: ignore[arg-type]  # redis stores bytes as given
        replies = await pipe.execute()
    per_id = 1 + len(buckets)
    return [any(replies[i * per_id : (i + 1) * per_id]) for i in range(len(item_ids))]

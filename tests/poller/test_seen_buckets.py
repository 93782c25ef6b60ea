"""The bounded memory of published ids: once per id across feeds, forgotten after seen_ttl, legacy markers kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from services.poller.publish import ItemPublisher, Published
from services.poller.seen import seen_buckets, seen_digest
from shared.schemas import FeedRef, Item
from shared.streams import StreamNames

NAMES = StreamNames("tripwire:")
DAY = 86400
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class PinnedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()


def item(item_id: str, feed: str = "a") -> Item:
    return Item(id=item_id, feed=FeedRef(url=f"http://127.0.0.1/{feed}.xml"), title=f"t {item_id}", fetched_at=START)


async def test_an_id_is_published_once_across_feeds_and_again_only_after_seen_ttl(redis: Redis):
    clock = PinnedClock(START)
    publisher = ItemPublisher(redis, NAMES, seen_ttl=3 * DAY, maxlen=1000, clock=clock)
    assert await publisher.publish_many([item("1"), item("2")]) == Published(2, 0)
    # The same article in another feed is not published again.
    assert await publisher.publish_many([item("1", feed="b"), item("3")]) == Published(1, 0)
    clock.at = START + timedelta(days=3)  # still within the ttl
    assert await publisher.publish_many([item("1")]) == Published(0, 0)
    clock.at = START + timedelta(days=7)  # past the ttl plus one bucket (3 days wide for this ttl)
    assert await publisher.publish_many([item("1")]) == Published(1, 0)
    assert await redis.xlen(NAMES.items) == 4


async def test_buckets_expire_on_their_own_and_hold_8_byte_digests(redis: Redis):
    publisher = ItemPublisher(redis, NAMES, seen_ttl=3 * DAY, maxlen=1000, clock=PinnedClock(START))
    await publisher.publish_many([item("1")])
    keys, expire_at = seen_buckets(NAMES, START.timestamp(), 3 * DAY)
    assert len(keys) == 2  # a bucket is as wide as a ttl shorter than four days: the current one and the one before
    assert await redis.smembers(keys[0]) == {seen_digest("1")}
    assert len(seen_digest("1")) == 8
    # Relative to the publisher's clock (pinned here, hours before the real one).
    assert abs(await redis.ttl(keys[0]) - (expire_at - START.timestamp())) < 5
    assert START.timestamp() + 3 * DAY < expire_at <= START.timestamp() + 6 * DAY


async def test_a_marker_written_before_the_buckets_still_counts(redis: Redis):
    await redis.set(NAMES.key("seen", "legacy"), "1", ex=DAY)
    publisher = ItemPublisher(redis, NAMES, seen_ttl=3 * DAY, maxlen=1000, clock=PinnedClock(START))
    assert await publisher.publish_many([item("legacy"), item("new")]) == Published(1, 0)


async def test_items_refused_for_a_full_stream_are_not_remembered_as_seen(redis: Redis):
    # Back-pressure: the classifier's group has read nothing of a full stream, so the script refuses the rest of the
    # batch without marking it; once the classifier acks, the next poll publishes exactly those items.
    await redis.xgroup_create(NAMES.items, "classifier", id="0", mkstream=True)
    publisher = ItemPublisher(redis, NAMES, seen_ttl=3 * DAY, maxlen=2, clock=PinnedClock(START))
    assert await publisher.publish_many([item("1"), item("2"), item("3"), item("4")]) == Published(2, 2)
    keys, _ = seen_buckets(NAMES, START.timestamp(), 3 * DAY)
    assert await redis.smembers(keys[0]) == {seen_digest("1"), seen_digest("2")}
    reply = await redis.xreadgroup("classifier", "c", {NAMES.items: ">"})
    await redis.xack(NAMES.items, "classifier", *[entry_id for entry_id, _ in reply[0][1]])
    assert await publisher.publish_many([item("1"), item("2"), item("3"), item("4")]) == Published(2, 0)
    assert await redis.smembers(keys[0]) == {seen_digest(n) for n in "1234"}
    entries = await redis.xrange(NAMES.items)
    assert [Item.from_json(fields[b"data"].decode()).id for _, fields in entries] == ["3", "4"]

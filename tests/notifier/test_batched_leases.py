"""The batched lease paths (issue 17): one script call for many deliveries, each still fenced by its own token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from services.notifier.batching import GroupCommit
from services.notifier.channel import Delivery
from services.notifier.leases import pinned_time
from services.notifier.store import DeliveryStore
from shared.config import TripwireConfig
from shared.streams import StreamNames
from tests.notifier.support import PREFIX, FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames(PREFIX)


async def scheduled_store(redis: Redis, clock: FakeClock, count: int) -> tuple[DeliveryStore, list[Delivery]]:
    """A store on the pinned clock with ``count`` single-alert deliveries due now."""
    store = DeliveryStore(redis, NAMES, 1000, pinned_time(clock))
    deliveries = [Delivery(f"d{n}", "hook", (make_alert(n),)) for n in range(count)]
    async with redis.pipeline(transaction=True) as pipe:
        for delivery in deliveries:
            await store.queue_enqueue(pipe, delivery)
        await pipe.execute()
    return store, deliveries


async def test_one_settle_call_applies_each_current_lease_and_discards_only_the_stale_one(redis: Redis):
    clock = FakeClock()
    store, deliveries = await scheduled_store(redis, clock, 4)
    claimed = await store.claim([d.id for d in deliveries], lease=10)
    assert [lease.delivery_id for lease, _ in claimed] == ["d0", "d1", "d2", "d3"]
    clock.advance(11)  # every lease has run out; another worker claims d1 only
    [(newer, _)] = await store.claim(["d1"], lease=60)
    (l0, _), (l1, _), (l2, r2), (l3, r3) = claimed
    outcomes = [
        store.delivered(l0, []),
        store.delivered(l1, []),  # stale: d1 now belongs to the newer claim
        store.dead(l2, r2, retryable=False, failed_at=datetime.now(UTC)),
        store.retry(l3, r3, delay=30),
    ]
    results = await store.settle(outcomes)
    assert results[0] == "" and results[1] is None and results[3] == ""
    assert results[2] and results[2] != "", "the dead letter's entry id"
    assert await redis.get(store.state_key("d0")) == b"delivered"
    assert await redis.get(store.state_key("d1")) == b"queued", "the stale outcome changed nothing"
    assert await redis.hget(store.leases.keys.leases, "d1") == newer.token.encode()
    assert await redis.zscore(store.schedule, "d1") is not None
    assert await redis.get(store.state_key("d2")) == b"dead"
    assert [entry_id.decode() for entry_id, _ in await redis.xrange(NAMES.dlq)] == [results[2]]
    due = await redis.zscore(store.schedule, "d3")
    assert due == pytest.approx(clock.now().timestamp() + 30)
    assert await redis.hget(store.leases.keys.leases, "d3") is None, "a retry waits unleased"
    assert await redis.zcard(store.schedule) == 2, "d1 (leased by the newer claim) and d3 (retry) remain"


async def test_a_digest_outcome_sets_every_covered_state_in_the_same_call(redis: Redis):
    clock = FakeClock()
    store, deliveries = await scheduled_store(redis, clock, 2)
    (l0, _), (l1, _) = await store.claim([d.id for d in deliveries], lease=10)
    results = await store.settle([store.delivered(l0, ["m1", "m2"]), store.delivered(l1, ["m3"])])
    assert results == ["", ""]
    states = [await redis.get(store.state_key(key)) for key in ("d0", "m1", "m2", "d1", "m3")]
    assert states == [b"delivered"] * 5


async def test_one_send_started_call_marks_only_current_leases(redis: Redis):
    clock = FakeClock()
    store, deliveries = await scheduled_store(redis, clock, 3)
    first = await store.leases.claim([d.id for d in deliveries], lease=10)
    clock.advance(11)
    [newer] = await store.leases.claim(["d1"], lease=60)
    renewed = await store.leases.extend_many(first, 10, send_starts=True)
    assert renewed == [True, False, True]
    sending = await redis.hgetall(store.leases.keys.sending)
    assert sending == {b"d0": first[0].token.encode(), b"d2": first[2].token.encode()}
    assert await redis.zscore(store.schedule, "d1") == pytest.approx(clock.now().timestamp() + 60), (
        "the newer claim's lease is untouched"
    )
    assert newer.token != first[1].token


async def test_claim_defers_paced_ids_and_reads_the_disabled_subscriptions_in_the_same_call(redis: Redis):
    clock = FakeClock()
    store, _ = await scheduled_store(redis, clock, 3)
    await store.disable("other", "gone", clock.now())
    window = await store.due_window(10)
    assert list(window.owners) == ["d0", "d1", "d2"] and set(window.owners.values()) == {"hook"}
    claimed, disabled = await store.claim_and_defer(["d0"], 10, {"d1": 5.0, "d2": 6.0})
    assert [lease.delivery_id for lease, _ in claimed] == ["d0"] and disabled == {"other"}
    assert claimed[0][1].delivery.id == "d0" and claimed[0][1].delivery.attempts == 0
    now = clock.now().timestamp()
    assert await redis.zscore(store.schedule, "d1") == pytest.approx(now + 5)
    assert await redis.zscore(store.schedule, "d2") == pytest.approx(now + 6)
    # A leased id is never deferred (its due time is its lease end), and nothing deferred is claimable early.
    await store.claim_and_defer([], 10, {"d0": 1.0})
    assert await redis.zscore(store.schedule, "d0") == pytest.approx(now + 10)
    assert (await store.due_window(10)).owners == {}


async def test_concurrent_submissions_share_one_call_and_a_failure_reaches_each_caller():
    calls: list[list[int]] = []

    async def double(ops: list[int]) -> list[int]:
        calls.append(ops)
        return [2 * op for op in ops]

    batcher: GroupCommit[int, int] = GroupCommit(double)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert calls == [[0, 1, 2, 3, 4]]
    assert await batcher.submit(7) == 14 and len(calls) == 2, "alone, an operation goes out at once"

    async def broken(ops: list[int]) -> list[int]:
        raise ConnectionError("redis down")

    failing: GroupCommit[int, int] = GroupCommit(broken)
    results = await asyncio.gather(*(failing.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    await failing.idle()


async def test_worker_marks_a_claimed_batch_in_one_call_and_settles_every_delivery_once(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as server:
        config = notifier_config(default_config, [sub("hook", f"{server.url}/h")])
        notifier = make_notifier(config, redis, http, FakeClock())
        await publish_messages(redis, *(make_alert(n) for n in range(1, 13)))
        await notifier.run(asyncio.Event(), drain=True)
        ids = [r.headers["webhook-id"] for r in server.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert notifier.worker.starts.calls == 1, "12 claimed together: one 'send started' call"
    assert notifier.worker.settles.calls <= 12
    assert await redis.zcard(PREFIX + "delivery_schedule") == 0


@pytest.mark.parametrize("marked", [False, True], ids=["before-the-mark", "after-the-mark"])
async def test_crash_between_batch_claim_and_send_keeps_the_in_flight_rule(
    marked: bool, redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    # A worker claims a batch (a webhook and a Slack delivery), maybe records "send started" for it in one call,
    # and dies before any request goes out. After the lease: unmarked, both are sent once; marked, the webhook goes
    # with the same webhook-id and the Slack post is not made but dead-lettered as possibly delivered.
    with LocalServer(lambda _r: Reply(204)) as hooks, LocalServer(lambda _r: Reply(200, b"ok")) as slack:
        config = notifier_config(
            default_config, [sub("hook", f"{hooks.url}/h"), sub("chat", f"{slack.url}/s", "slack")], lease=60
        )
        clock = FakeClock()
        notifier = make_notifier(config, redis, http, clock)
        await publish_messages(redis, make_alert(1))
        await redis.xgroup_create(PREFIX + "alerts", "notifier", id="0")
        await notifier.consumer.ack(await notifier.handle(await notifier.consumer.read(block=False)))
        window = await notifier.store.due_window(10)
        claimed, _ = await notifier.store.claim_and_defer(list(window.owners), 60, {})
        assert len(claimed) == 2
        if marked:
            assert await notifier.store.leases.extend_many([lease for lease, _ in claimed], 60, send_starts=True)
        await notifier.worker.drain()
        assert hooks.requests == [] and slack.requests == [], "nothing is sent again while the batch's lease runs"
        clock.advance(61)
        await notifier.worker.drain()
        hook_ids = [r.headers["webhook-id"] for r in hooks.requests]
        posts = len(slack.requests)
    webhook_id = next(record.delivery.id for _, record in claimed if record.delivery.subscription == "hook")
    dead = await redis.xrange(PREFIX + "dlq")
    assert hook_ids == [webhook_id]
    if marked:
        assert posts == 0 and len(dead) == 1 and b"possibly delivered" in dead[0][1][b"data"]
    else:
        assert posts == 1 and dead == []
    assert await redis.zcard(PREFIX + "delivery_schedule") == 0

"""The console's read pages and dead-letter actions, over data written the way the services write it."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from services.notifier.channel import Delivery
from services.notifier.routing import delivery_id
from services.notifier.store import DeliveryRecord, DeliveryStore
from services.poller.state import FeedState, FeedStateStore
from shared.config import TripwireConfig
from shared.streams import StreamNames, publish
from tests.console.support import HOOK_URL, client_for, console_config, logged_in
from tests.notifier.support import SECRET, T0, make_alert, publish_messages

NAMES = StreamNames("tripwire:")
XSS = "<script>alert('owned')</script> Convoy"


async def _publish_item(redis: Redis, n: int, **fields: object) -> None:
    alert = make_alert(n, **fields)
    await publish(redis, NAMES.items, alert.item.to_json(), 100_000)


async def test_feeds_page_shows_health_and_filters_to_broken(default_config: TripwireConfig, redis: Redis) -> None:
    store = FeedStateStore(redis, NAMES)
    await store.save(FeedState(url="https://ok.example/rss", last_success=T0, items_published=12))
    await store.save(
        FeedState(url="https://broken.example/rss", health="failing", consecutive_failures=4,
                  last_error="HTTP 503 from <b>upstream</b>", last_error_at=T0)
    )  # fmt: skip
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        every = (await client.get("/feeds")).text
        assert "Fine feed" in every and "Broken feed" in every and ">12<" in every
        assert "HTTP 503 from &lt;b&gt;upstream&lt;/b&gt;" in every
        broken = (await client.get("/feeds?broken=1")).text
        assert "Broken feed" in broken and "Fine feed" not in broken
        assert "failing" in broken


async def test_items_page_shows_scores_reasons_and_escapes_feed_text(
    default_config: TripwireConfig, redis: Redis
) -> None:
    await _publish_item(redis, 1, title=XSS)
    await _publish_item(redis, 2, title="Quiet harvest festival", summary="Nothing to see.")
    await publish_messages(redis, make_alert(1, title=XSS, score=0.81))
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        page = (await client.get("/items")).text
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; Convoy" in page
        assert "us_russia_standoff" in page and "0.810" in page
        assert "A standoff near Derik." in page and "convoy" in page
        assert "Quiet harvest festival" in page and "No topic matched." in page


async def test_items_search_and_filters(default_config: TripwireConfig, redis: Redis) -> None:
    await _publish_item(redis, 1, title="Convoy standoff at Derik")
    await _publish_item(redis, 2, title="Harvest festival", feed={"url": "https://ok.example/rss"})
    await _publish_item(redis, 3, title="Patrol near Qamishli")
    await publish_messages(redis, make_alert(1, score=0.9), make_alert(3, score=0.6, topic="joint_patrol"))
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        assert _titles((await client.get("/items?q=DERIK")).text) == ["Convoy standoff at Derik"]
        assert _titles((await client.get("/items?topic=joint_patrol")).text) == ["Patrol near Qamishli"]
        assert _titles((await client.get("/items?min=0.7&max=1")).text) == ["Convoy standoff at Derik"]
        by_feed = (await client.get("/items", params={"feed": "https://ok.example/rss"})).text
        assert _titles(by_feed) == ["Harvest festival"]
        assert "1 of the latest 3 items match" in by_feed
        assert (await client.get("/items?min=nonsense")).status_code == 200


def _titles(html: str) -> list[str]:
    import re

    return [re.sub(r"<[^>]+>", "", title).strip() for title in re.findall(r"<h2>(.*?)</h2>", html, re.S)]


async def test_alerts_page_shows_delivery_outcome_and_attempts(default_config: TripwireConfig, redis: Redis) -> None:
    config = console_config(default_config)
    store = DeliveryStore(redis, NAMES, 1000)
    delivered, retrying = make_alert(1), make_alert(2)
    await publish_messages(redis, delivered, retrying)
    await redis.set(store.state_key(delivery_id(delivered.id, "analysts")), "delivered")
    pending = Delivery(delivery_id(retrying.id, "analysts"), "analysts", (retrying,), False, 2)
    await redis.set(store.state_key(pending.id), "queued")
    await redis.hset(store.records, pending.id, DeliveryRecord(pending, "HTTP 503: try later", 503).to_json())
    async with client_for(config, redis) as client:
        await logged_in(client)
        page = (await client.get("/alerts")).text
    assert "Convoy standoff number 1" in page and "Convoy standoff number 2" in page
    assert "delivered" in page and "queued" in page
    assert "HTTP 503: try later" in page and "<td>2</td>" in page


async def _dead_letter(redis: Redis, n: int) -> str:
    store = DeliveryStore(redis, NAMES, 1000)
    alert = make_alert(n, title=f"<i>Dead</i> alert {n}")
    delivery = Delivery(delivery_id(alert.id, "analysts"), "analysts", (alert,), False, 5)
    record = DeliveryRecord(delivery, "HTTP 500 five times", 500)
    return await store.dead_letter(record, True, datetime(2026, 11, 21, tzinfo=UTC))


async def test_dead_letters_listed_replayed_and_dropped(default_config: TripwireConfig, redis: Redis) -> None:
    store = DeliveryStore(redis, NAMES, 1000)
    first, second, third = [await _dead_letter(redis, n) for n in (1, 2, 3)]
    async with client_for(console_config(default_config), redis) as client:
        csrf = await logged_in(client)
        page = (await client.get("/dlq")).text
        assert "HTTP 500 five times" in page and "&lt;i&gt;Dead&lt;/i&gt; alert 1" in page
        # A form without the session's token changes nothing.
        forged = await client.post("/dlq/replay", data={"entry_id": first, "csrf": "forged"})
        assert forged.status_code == 403 and await redis.xlen(NAMES.dlq) == 3
        replay = await client.post("/dlq/replay", data={"entry_id": first, "csrf": csrf})
        assert replay.status_code == 303 and "replayed+1" in replay.headers["location"]
        assert await redis.xlen(NAMES.dlq) == 2
        assert await store.schedule_size() == 1
        drop = await client.post("/dlq/drop", data={"entry_id": second, "csrf": csrf})
        assert "dropped+1" in drop.headers["location"]
        remaining = (await client.get("/dlq")).text
        assert third in remaining and second not in remaining
        await client.post("/dlq/drop", data={"all": "1", "csrf": csrf})
        assert await redis.xlen(NAMES.dlq) == 0
        assert "No dead letters." in (await client.get("/dlq")).text


async def test_replay_all_requeues_every_delivery(default_config: TripwireConfig, redis: Redis) -> None:
    for n in (1, 2):
        await _dead_letter(redis, n)
    async with client_for(console_config(default_config), redis) as client:
        csrf = await logged_in(client)
        await client.post("/dlq/replay", data={"all": "1", "csrf": csrf})
    assert await redis.xlen(NAMES.dlq) == 0
    assert await DeliveryStore(redis, NAMES, 1000).schedule_size() == 2


async def test_no_page_shows_a_subscription_url_secret_or_password(
    default_config: TripwireConfig, redis: Redis
) -> None:
    await publish_messages(redis, make_alert(1))
    await _dead_letter(redis, 2)
    config = console_config(default_config)
    async with client_for(config, redis) as client:
        await logged_in(client)
        for path in ("/", "/feeds", "/items", "/alerts", "/dlq", "/login"):
            text = (await client.get(path)).text
            for secret in (HOOK_URL, "secret-path", SECRET, "correct horse", "s" * 32):
                assert secret not in text, (path, secret)

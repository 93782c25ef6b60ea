"""redis.mode and its settings: validation, the client each mode builds, secrets kept out of repr, and the hash tags
that keep every script's and transaction's keys in one slot while the groups spread over the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.crc import key_slot

from services.notifier.store import DeliveryStore
from services.poller.seen import publish_once_inputs
from shared.config import ConfigError, RedisSettings, load_settings
from shared.redis_client import ClientError, ScriptingCluster, build_client
from shared.schemas import FeedRef, Item
from shared.streams import StreamNames

CLUSTER = StreamNames("tripwire:", cluster=True)


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_single_is_the_default_and_sentinel_needs_its_sentinels():
    assert RedisSettings().mode == "single"
    with pytest.raises(ValidationError, match=r"redis\.sentinels is empty"):
        RedisSettings(mode="sentinel")
    with pytest.raises(ValidationError, match="is not host:port"):
        RedisSettings(mode="sentinel", sentinels=["sentinel-1"])
    with pytest.raises(ValidationError, match="may not hold"):
        RedisSettings(stream_prefix="{tripwire}:")


def test_the_environment_switches_the_topology_and_a_bad_value_names_the_variable(tmp_path: Path):
    config = tmp_path / "tripwire.yaml"
    config.write_text("redis: {stream_prefix: 't:'}\n", encoding="utf-8")
    environ = {"TRIPWIRE_REDIS_MODE": "sentinel", "TRIPWIRE_REDIS_SENTINELS": "a:26379, b:26379"}
    settings = load_settings(str(config), environ)
    assert (settings.config.redis.mode, settings.config.redis.sentinels) == ("sentinel", ["a:26379", "b:26379"])
    with pytest.raises(ConfigError, match="TRIPWIRE_REDIS_MODE"):
        load_settings(str(config), {"TRIPWIRE_REDIS_MODE": "galaxy"})


def test_the_sentinel_password_stays_out_of_repr(tmp_path: Path):
    config = tmp_path / "tripwire.yaml"
    config.write_text("{}\n", encoding="utf-8")
    settings = load_settings(str(config), {"REDIS_SENTINEL_PASSWORD": "sentinel-secret-123"})
    assert settings.sentinel_password is not None
    assert "sentinel-secret-123" not in repr(settings)


async def test_each_mode_builds_its_client_without_connecting():
    single = build_client("redis://127.0.0.1:1/0", RedisSettings())
    assert type(single) is Redis
    await single.aclose()
    with pytest.raises(ClientError, match="REDIS_URL"):
        build_client(None, RedisSettings(mode="cluster"))
    assert isinstance(build_client("redis://127.0.0.1:1/0", RedisSettings(mode="cluster")), ScriptingCluster)
    sentinel = build_client(
        "rediss://:pw@ignored:1/0?ssl_cert_reqs=none", RedisSettings(mode="sentinel", sentinels=["127.0.0.1:1"])
    )
    pool = sentinel.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "tripwire"
    assert pool.connection_kwargs["password"] == "pw"
    await sentinel.aclose()


def test_single_mode_keeps_every_key_name():
    names = StreamNames("tripwire:")
    assert (names.items, names.alerts, names.dlq) == ("tripwire:items", "tripwire:alerts", "tripwire:dlq")
    assert names.key("delivery", "x") == "tripwire:delivery:x"


async def test_keys_used_together_share_a_slot_and_the_groups_spread():
    item = Item(id="i", feed=FeedRef(url="http://127.0.0.1/f.xml"), title="t", fetched_at="2026-12-01T00:00:00Z")
    keys, _ = publish_once_inputs(CLUSTER, item, "{}", now=1.8e9, ttl=30 * 86400, maxlen=1000, field="data")
    assert len({slot(key) for key in keys}) == 1  # the publish script: items stream and seen buckets
    unconnected = Redis.from_url("redis://127.0.0.1:1/0")  # only the store's key names are used
    store = DeliveryStore(unconnected, CLUSTER, 1000)
    notifier = [store.state_key("d"), store.records, store.schedule, store.held_key("s"), store.held_due, CLUSTER.dlq]
    lease_keys = store.leases.keys  # the batched window, claim, send-started and settle scripts
    notifier += [lease_keys.leases, lease_keys.sending, lease_keys.tokens, lease_keys.disabled]
    assert len({slot(key) for key in notifier}) == 1  # enqueue, hold, settle, dead-letter, replay
    groups = {slot(CLUSTER.items), slot(CLUSTER.alerts), slot(CLUSTER.dlq), slot(CLUSTER.key("feed", "f"))}
    groups |= {slot(CLUSTER.tagged(f"stories:{topic}", "version")) for topic in ("standoff", "patrols", "border")}
    assert len(groups) == 7  # one master need not carry everything
    await unconnected.aclose()

"""On a cluster the dead-letter stream and the stream it takes poison from sit in different slots: the entry is
copied, then acked (never lost), instead of one MULTI that the cluster would refuse."""

from __future__ import annotations

import pytest

from shared.config import RedisSettings, StreamSettings
from shared.redis_client import build_client, same_slot
from shared.stream_consume import ensure_group
from shared.streams import StreamConsumer, StreamNames
from tests.topology.servers import LocalCluster

pytestmark = pytest.mark.slow
NAMES = StreamNames("tripwire:", cluster=True)


async def test_a_poison_entry_is_copied_to_the_dead_letters_then_acked(cluster: LocalCluster) -> None:
    client = build_client(cluster.url, RedisSettings(mode="cluster"))
    try:
        assert not same_slot(client, NAMES.items, NAMES.dlq)
        await ensure_group(client, NAMES.items, "classifier")
        entry_id = (await client.xadd(NAMES.items, {"data": "{}"})).decode()
        consumer = StreamConsumer(
            client, NAMES.items, "classifier", "c1", settings=StreamSettings(max_deliveries=1),
            dead_letter_stream=NAMES.dlq,
        )  # fmt: skip
        assert [entry.id for entry in await consumer.read(block=False)] == [entry_id]  # handled, never acked
        consumer.reread_pending()
        assert await consumer.read(block=False) == []  # its second delivery: poison
        [(_, fields)] = await client.xrange(NAMES.dlq)
        assert entry_id.encode() in fields[b"data"]
        assert (await client.xpending(NAMES.items, "classifier"))["pending"] == 0
    finally:
        await client.aclose()

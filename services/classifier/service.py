"""The classifier service: read items in micro-batches, score them, publish alerts."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

from redis.asyncio import Redis

from services.classifier.embedder import Vectors
from services.classifier.learned import current_scorer
from services.classifier.overrides import apply_thresholds, load_thresholds
from services.classifier.places import Gazetteer
from services.classifier.rescoring import RescoringScorer
from services.classifier.scoring import Scorer, TopicScore
from services.classifier.sentence_source import with_sentence_source
from services.classifier.stories import StoryStore
from shared.clock import Clock, SystemClock
from shared.config import TopicConfig, TripwireConfig
from shared.config_reload import ReloadWatch, watch_config
from shared.health import HealthState
from shared.heap import release_free_heap
from shared.logging import get_logger
from shared.metrics import (
    ALERTS_BY_LANGUAGE,
    ALERTS_CREATED,
    BATCH_SIZE,
    ITEMS_BY_LANGUAGE,
    ITEMS_CLASSIFIED,
    TOPIC_SCORES,
)
from shared.schemas import Alert, Item, SchemaError
from shared.stats import count_alerts, count_items
from shared.stream_bounds import StreamRoom
from shared.stream_consume import consume, ensure_group
from shared.streams import DATA_FIELD, StreamConsumer, StreamEntry, StreamNames, count_invalid, dead_letter_invalid

GROUP = "classifier"
log = get_logger(__name__)


def alert_id(item_id: str, topic: str) -> str:
    """Stable id of the alert for one (item, topic): scoring the same item again gives the same id."""
    return hashlib.sha256(f"{item_id}\x00{topic}".encode()).hexdigest()[:32]


class Classifier:
    """Consumes the items stream and publishes alerts."""

    def __init__(
        self,
        config: TripwireConfig,
        redis: Redis,
        scorer: Scorer,
        consumer_name: str,
        *,
        clock: Clock | None = None,
        health: HealthState | None = None,
    ) -> None:
        self.config, self.redis, self.scorer = config, redis, scorer
        self.clock = clock or SystemClock()
        self.health = health or HealthState()
        self.names = StreamNames.of(config.redis)
        self.consumer = StreamConsumer(
            redis, self.names.items, GROUP, consumer_name, count=config.classifier.read_count, block_ms=1000
        )
        self.gazetteer = Gazetteer(config.topics)
        self.alerts_room = StreamRoom(redis, self.names.alerts, config.redis.maxlen, health=self.health)
        # The scorer's multilingual model (loaded at its first use) also compares stories across languages.
        multilingual = getattr(scorer, "multilingual", None)  # a stand-in scorer (tests) may have none
        self.stories = StoryStore(redis, self.names, config.stories, multilingual) if config.stories.enabled else None

    async def handle(self, entries: list[StreamEntry]) -> Sequence[str]:
        """Score a batch of entries and publish their alerts; returns the ids to ack."""
        items, done, invalid = [], [], []
        for entry in entries:
            # Trimmed entries never get here: the consumer acks and counts them (shared/streams.py).
            try:
                items.append((entry.id, Item.from_json(entry.data or "")))
            except SchemaError as exc:
                invalid.append((entry, str(exc)))
        if invalid:
            # Never acked unseen: dead-lettered with the raw fields first (replayable after an upgrade), then acked.
            async with self.redis.pipeline(transaction=True) as pipe:
                for entry, reason in invalid:
                    log.error("entry_dead_lettered", stream=self.names.items, entry_id=entry.id, reason=reason)
                    dead_letter_invalid(
                        pipe, self.names.dlq, self.config.redis.maxlen, self.names.items, GROUP, entry, reason
                    )
                await pipe.execute()
            for entry, reason in invalid:
                count_invalid(self.names.items, reason)
                done.append(entry.id)
        if items:
            # The model runs in a worker thread so the event loop keeps beating health and reading Redis.
            # Console votes and overrides (learned.py, overrides.py), read once per batch.
            self.scorer = await current_scorer(self.redis, self.names, self.config.topics, self.scorer)
            overrides = await load_thresholds(self.redis, self.names)
            if isinstance(self.scorer, RescoringScorer):  # items near an override are re-scored in fp32 too
                self.scorer.overrides = overrides
            scores, vectors = await asyncio.to_thread(self._score, [item for _, item in items])
            scores = apply_thresholds(scores, overrides)
            await self._publish_alerts([item for _, item in items], scores, vectors)
            done += [entry_id for entry_id, _ in items]
            _observe(scores)
        self.health.beat()
        return done

    def _score(self, items: list[Item]) -> tuple[list[list[TopicScore]], Vectors]:
        """Score a batch (in a worker thread), then hand the heap the batch freed back to the kernel: the models'
        temporaries (onnxruntime's fp32 activations, USE-m3's numpy arrays) would otherwise stay in glibc's heap
        and in RSS; ~2.5 ms a batch (shared/heap.py)."""
        try:
            return self.scorer.score_items_with_vectors(items)
        finally:
            release_free_heap()

    async def _publish_alerts(self, items: list[Item], scores: list[list[TopicScore]], vectors: Vectors) -> None:
        now = self.clock.now()
        # Back-pressure: wait while the alerts stream is full of entries the notifier has not read (never trim them).
        await self.alerts_room.wait_for(sum(1 for row in scores for result in row if result.matched))
        pipe = self.redis.pipeline(transaction=False)
        created: list[tuple[str, str]] = []
        scored: list[Item] = []
        for row, (item, topic_scores) in enumerate(zip(items, scores, strict=True)):
            if item.language is None and topic_scores and topic_scores[0].language:
                # Detected here (an item from an older poller): the alert says the language it was scored in.
                item = item.model_copy(update={"language": topic_scores[0].language})
            scored.append(item)
            for result in topic_scores:
                if not result.matched:
                    continue
                alert = Alert(
                    id=alert_id(item.id, result.topic), item=item, topic=result.topic,
                    score=result.score, reasons=with_sentence_source(result.reasons, item), created_at=now,
                    places=self.gazetteer.find(result.topic, item.text),
                )  # fmt: skip
                if self.stories is not None:
                    # Before the XADD: a crash in between re-scores the item, and the store returns the same answer.
                    named = [place.name for place in alert.places]
                    story = await self.stories.assign(result.topic, item, vectors[row], result.score, now, named)
                    alert = alert.model_copy(
                        update={"story_id": story.story_id, "event": story.event, "story_sources": story.sources,
                                "story_title": story.title}
                    )  # fmt: skip
                # No MAXLEN: the bound is the wait above (shared/stream_bounds.py), not trimming unread alerts.
                pipe.xadd(self.names.alerts, {DATA_FIELD: alert.to_json()})
                created.append((result.topic, result.language or "unknown"))
                log.info("alert_created", alert_id=alert.id, topic=alert.topic, score=alert.score, item_id=item.id)
        count_items(pipe, self.names, scored, now)  # the console's overview counters (shared/stats.py)
        count_alerts(pipe, self.names, [topic for topic, _ in created], now)
        await pipe.execute()
        for topic, language in created:  # counted once Redis has them, so the metric never runs ahead of the stream
            ALERTS_CREATED.labels(topic).inc()
            ALERTS_BY_LANGUAGE.labels(topic, language).inc()

    async def apply_config(self, config: TripwireConfig) -> None:
        """Take the topics of a reloaded config (shared/config_reload.py) from the next batch on: their examples
        are embedded again (off the event loop), with the same models; other settings keep their start-up values."""
        current = self.scorer
        # The same kind of scorer on the new topics: a plain Scorer here dropped the fp32 re-scoring of items near a
        # threshold for the rest of the process's life after any reload (int8 decisions, against the docs).
        build = current.with_topics if isinstance(current, RescoringScorer) else self._plain_scorer
        scorer: Scorer = await asyncio.to_thread(build, config.topics)
        before = set(self.config.topics)
        self.config, self.scorer, self.gazetteer = config, scorer, Gazetteer(config.topics)
        log.info("topics_reloaded", added=sorted(set(config.topics) - before),
                 removed=sorted(before - set(config.topics)), topics=len(config.topics))  # fmt: skip

    def _plain_scorer(self, topics: dict[str, TopicConfig]) -> Scorer:
        return Scorer(topics, self.scorer.embedder, self.scorer.multilingual)

    async def run(self, stop: asyncio.Event, *, drain: bool = False, reload: ReloadWatch | None = None) -> int:
        """Consume until ``stop`` is set (or, with ``drain``, until the stream is empty); ``reload`` applies the
        topics of a reloaded config file (SIGHUP, console) while it runs."""
        await ensure_group(self.redis, self.names.items, GROUP)
        if reload is None or drain:
            return await consume(self.consumer, self.handle, stop, drain=drain)
        reloads = asyncio.create_task(watch_config(reload, self.apply_config, stop))
        try:
            return await consume(self.consumer, self.handle, stop)
        finally:
            stop.set()
            await reloads


def _observe(scores: list[list[TopicScore]]) -> None:
    """Batch size, items scored and the score distribution per topic."""
    BATCH_SIZE.observe(len(scores))
    ITEMS_CLASSIFIED.inc(len(scores))
    for topic_scores in scores:
        # The language the scorer used: the item's, or detected when the item had none.
        ITEMS_BY_LANGUAGE.labels((topic_scores[0].language if topic_scores else None) or "unknown").inc()
        for result in topic_scores:
            TOPIC_SCORES.labels(result.topic).observe(result.score)

"""The long-running commands: each service alone, or all three in one process."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx
from redis.asyncio import Redis

from services.classifier.embedder import SentenceEmbedder
from services.classifier.scoring import Scorer
from services.classifier.service import Classifier
from services.notifier.service import Notifier
from services.poller.service import Poller
from shared.config import FeedConfig, Settings, load_config_file
from shared.health import HealthState
from shared.http import make_http_client
from shared.logging import get_logger
from tripwire import __version__
from tripwire.runtime import redis_connection, start_health_server, stop_on_signals

log = get_logger(__name__)


def poller_http(settings: Settings) -> httpx.AsyncClient:
    """The poller's outbound client."""
    poller = settings.config.poller
    return make_http_client(settings.config.network, timeout=poller.timeout, user_agent=poller.user_agent)


def notifier_http(settings: Settings) -> httpx.AsyncClient:
    """The notifier's outbound client."""
    return make_http_client(
        settings.config.network, timeout=settings.config.notifier.timeout, user_agent=f"Tripwire/{__version__}"
    )


def build_classifier(settings: Settings, redis: Redis, health: HealthState | None = None) -> Classifier:
    """Load the model and example embeddings once, and make the classifier."""
    config = settings.config
    embedder = SentenceEmbedder(config.classifier.model_path, config.classifier.batch_size)
    return Classifier(config, redis, Scorer(config.topics, embedder), settings.consumer_name, health=health)


def feeds_from_config(settings: Settings) -> list[FeedConfig]:
    """The feeds in the config file as it is now (SIGHUP reload); raises ConfigError if it became invalid."""
    return load_config_file(settings.config_path).feeds


async def run_poller(settings: Settings, *, once: bool) -> None:
    """``tripwire poller``."""
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(redis_connection(settings, allow_embedded=False, command="poller"))
        http = await stack.enter_async_context(poller_http(settings))
        health = HealthState()
        poller = Poller(settings.config, redis, http, health=health)
        if once:
            await poller.poll_all()
            return
        server = start_health_server(settings, settings.config.health.poller_port, {"poller": health})
        try:
            await poller.run(stop_on_signals(), reload=lambda: feeds_from_config(settings))
        finally:
            if server:
                server.stop()


async def run_classifier(settings: Settings, *, drain: bool) -> None:
    """``tripwire classifier``."""
    async with redis_connection(settings, allow_embedded=False, command="classifier") as redis:
        health = HealthState()
        classifier = await asyncio.to_thread(build_classifier, settings, redis, health)
        stop = stop_on_signals()
        server = (
            None
            if drain
            else start_health_server(settings, settings.config.health.classifier_port, {"classifier": health})
        )
        try:
            count = await classifier.run(stop, drain=drain)
            log.info("classifier_stopped", processed=count)
        finally:
            if server:
                server.stop()


async def run_notifier(settings: Settings, *, drain: bool) -> None:
    """``tripwire notifier``."""
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(redis_connection(settings, allow_embedded=False, command="notifier"))
        http = await stack.enter_async_context(notifier_http(settings))
        health = HealthState()
        notifier = Notifier(settings.config, redis, http, settings.consumer_name, health=health)
        stop = stop_on_signals()
        server = (
            None if drain else start_health_server(settings, settings.config.health.notifier_port, {"notifier": health})
        )
        try:
            count = await notifier.run(stop, drain=drain)
            log.info("notifier_stopped", processed=count)
        finally:
            if server:
                server.stop()


async def run_all(settings: Settings) -> None:
    """``tripwire run``: the three services in one process, on REDIS_URL or an embedded Redis."""
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(redis_connection(settings, allow_embedded=True, command="run"))
        poll_http = await stack.enter_async_context(poller_http(settings))
        notify_http = await stack.enter_async_context(notifier_http(settings))
        states = {name: HealthState() for name in ("poller", "classifier", "notifier")}
        classifier = await asyncio.to_thread(build_classifier, settings, redis, states["classifier"])
        poller = Poller(settings.config, redis, poll_http, health=states["poller"])
        notifier = Notifier(settings.config, redis, notify_http, settings.consumer_name, health=states["notifier"])
        stop = stop_on_signals()
        server = start_health_server(settings, settings.config.health.poller_port, states)
        try:
            await asyncio.gather(
                poller.run(stop, reload=lambda: feeds_from_config(settings)), classifier.run(stop), notifier.run(stop)
            )
        finally:
            if server:
                server.stop()

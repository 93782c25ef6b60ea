"""The long-running commands: each service alone, or all three in one process."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx
from redis.asyncio import Redis

from services.classifier.rescoring import make_scorer
from services.classifier.service import Classifier
from services.notifier.service import Notifier
from services.poller.service import Poller
from shared.config import FeedConfig, Settings, load_config_file
from shared.config_reload import ReloadWatch
from shared.health import HealthState, RedisOutageLog
from shared.http import make_http_client
from shared.logging import get_logger
from shared.streams import StreamNames
from tripwire import __version__
from tripwire.console.server import serve_console
from tripwire.runtime import (
    configure_consumer,
    redis_connection,
    start_health_server,
    stop_on_signals,
    watching_redis,
)

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
    scorer = make_scorer(config)  # on onnx-int8: fp32 decisions near the thresholds (services/classifier/rescoring.py)
    return Classifier(config, redis, scorer, settings.consumer_name, health=health)


def feeds_from_config(settings: Settings) -> list[FeedConfig]:
    """The feeds in the config file as it is now (SIGHUP reload); raises ConfigError if it became invalid."""
    return load_config_file(settings.config_path).feeds


def _reload_watch(settings: Settings, redis: Redis, service: str) -> ReloadWatch:
    """The watch that reloads ``service``'s part of the config file (shared/config_reload.py)."""
    return ReloadWatch(
        redis, StreamNames.of(settings.config.redis), lambda: load_config_file(settings.config_path), service
    )


async def run_poller(settings: Settings, *, once: bool) -> None:
    """``tripwire poller``."""
    stop = stop_on_signals()
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(
            redis_connection(settings, allow_embedded=False, command="poller", stop=stop)
        )
        http = await stack.enter_async_context(poller_http(settings))
        health = HealthState(name="poller")
        poller = Poller(settings.config, redis, http, health=health)
        if once:
            await poller.poll_all()
            return
        await _monitor(stack, settings, redis, settings.config.health.poller_port, {"poller": health}, stop)
        await poller.run(stop, reload=lambda: feeds_from_config(settings))
        log.info("poller_stopped")


async def run_classifier(settings: Settings, *, drain: bool) -> None:
    """``tripwire classifier``."""
    stop = stop_on_signals()  # first: a SIGTERM during the slow model load still exits cleanly
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(
            redis_connection(settings, allow_embedded=False, command="classifier", stop=stop)
        )
        health = HealthState(name="classifier")
        classifier = await asyncio.to_thread(build_classifier, settings, redis, health)
        configure_consumer(classifier.consumer, settings, health)
        if not drain:
            await _monitor(stack, settings, redis, settings.config.health.classifier_port, {"classifier": health}, stop)
        with _reload_watch(settings, redis, "classifier") as watch:
            count = await classifier.run(stop, drain=drain, reload=watch)
        log.info("classifier_stopped", processed=count)


async def run_notifier(settings: Settings, *, drain: bool) -> None:
    """``tripwire notifier``."""
    stop = stop_on_signals()
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(
            redis_connection(settings, allow_embedded=False, command="notifier", stop=stop)
        )
        http = await stack.enter_async_context(notifier_http(settings))
        health = HealthState(name="notifier")
        notifier = Notifier(settings.config, redis, http, settings.consumer_name, health=health)
        configure_consumer(notifier.consumer, settings, health)
        if not drain:
            await _monitor(stack, settings, redis, settings.config.health.notifier_port, {"notifier": health}, stop)
        with _reload_watch(settings, redis, "notifier") as watch:
            count = await notifier.run(stop, drain=drain, reload=watch)
        log.info("notifier_stopped", processed=count)


async def run_all(settings: Settings) -> None:
    """``tripwire run``: the three services and the console in one process, on REDIS_URL or an embedded Redis."""
    stop = stop_on_signals()
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(
            redis_connection(settings, allow_embedded=True, command="run", stop=stop)
        )
        poll_http = await stack.enter_async_context(poller_http(settings))
        notify_http = await stack.enter_async_context(notifier_http(settings))
        outage_log = RedisOutageLog()  # one Redis for the three: an outage is logged once, not once per service
        states = {name: HealthState(name=name, outage_log=outage_log) for name in ("poller", "classifier", "notifier")}
        classifier = await asyncio.to_thread(build_classifier, settings, redis, states["classifier"])
        poller = Poller(settings.config, redis, poll_http, health=states["poller"])
        notifier = Notifier(settings.config, redis, notify_http, settings.consumer_name, health=states["notifier"])
        configure_consumer(classifier.consumer, settings, states["classifier"])
        configure_consumer(notifier.consumer, settings, states["notifier"])
        await _monitor(stack, settings, redis, settings.config.health.poller_port, states, stop)
        # SIGHUP (or the console, after it rewrote the file) reloads feeds, topics and subscriptions alike.
        classifier_watch = stack.enter_context(_reload_watch(settings, redis, "classifier"))
        notifier_watch = stack.enter_context(_reload_watch(settings, redis, "notifier"))
        parts = [
            poller.run(stop, reload=lambda: feeds_from_config(settings)),
            classifier.run(stop, reload=classifier_watch),
            notifier.run(stop, reload=notifier_watch),
        ]
        if settings.config.console.port:
            # The console scores with the classifier's model: one copy in memory, loaded once.
            embedder = classifier.scorer.embedder
            parts.append(
                serve_console(settings.config, redis, lambda: embedder, stop, config_path=settings.config_path)
            )
        await asyncio.gather(*parts)
        log.info("services_stopped")


async def _monitor(
    stack: AsyncExitStack,
    settings: Settings,
    redis: Redis,
    port: int,
    states: dict[str, HealthState],
    stop: asyncio.Event,
) -> None:
    """Serve /healthz and /metrics (unless port is 0); track Redis reachability in ``states`` until stack closes."""
    server = start_health_server(settings, port, states)
    if server is not None:
        stack.callback(server.stop)
    await stack.enter_async_context(watching_redis(redis, states.values(), stop))

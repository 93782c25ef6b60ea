"""Builders and waiting helpers shared by the reliability tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.schemas import Alert, FeedRef, Item, Reasons
from tripwire.local_http import LocalServer

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)

# Clear matches for the standoff topic, whatever the scoring details: close paraphrases of its examples.
_SIDES = ["US and Russian convoys", "American and Russian military convoys", "US and Russian armored patrols"]
_ACTS = ["blocked each other on a road", "faced off for hours on a highway", "stopped each other on the road"]
_PLACES = ["near Derik", "near Qamishli", "outside Qamishli", "near al-Malikiyah", "near Derik in north-east Syria"]
# Clearly unrelated news.
_OTHER = [
    "A bakery won a regional prize for its sourdough bread",
    "The city council approved a new cycle lane on the high street",
    "Local football club signs a young goalkeeper on a two-year deal",
    "Heavy rain is expected across the region over the weekend",
    "A museum opens an exhibition of medieval manuscripts",
    "Scientists describe a new species of beetle found in a rainforest",
]


def matching_text(n: int) -> tuple[str, str]:
    """Title and summary of the n-th matching item."""
    side, act, place = _SIDES[n % 3], _ACTS[(n // 3) % 3], _PLACES[(n // 9) % 5]
    return f"{side} {act} {place}", f"{side} {act} {place}, then both withdrew. Report {n}."


def other_text(n: int) -> tuple[str, str]:
    """Title and summary of the n-th non-matching item."""
    base = _OTHER[n % len(_OTHER)]
    return base, f"{base}. Local report number {n}."


def item_link(kind: str, n: int) -> str:
    """The link that marks an item: ``kind`` is ``m`` (matching) or ``o`` (other)."""
    return f"http://127.0.0.1/{kind}/{n}"


def make_item(kind: str, n: int) -> Item:
    """One item as the poller would publish it."""
    title, summary = matching_text(n) if kind == "m" else other_text(n)
    link = item_link(kind, n)
    return Item(
        id=hashlib.sha256(link.encode()).hexdigest()[:32], feed=FeedRef(url="http://127.0.0.1/feed.xml"),
        title=title, summary=summary, link=link, published=NOW, fetched_at=NOW,
    )  # fmt: skip


def make_alert(n: int, topic: str = "standoff") -> Alert:
    """An alert as the classifier would publish it (for notifier-only tests)."""
    return Alert(
        id=f"alert-{n}", item=make_item("m", n), topic=topic, score=0.9,
        reasons=Reasons(score=0.9, threshold=0.5), created_at=NOW,
    )  # fmt: skip


TOPICS: dict[str, Any] = {
    "standoff": {
        "threshold": 0.5,
        "examples": [
            "US and Russian military convoys blocked each other on a road near Derik in north-east Syria.",
            "Russian troops stopped an American patrol near Qamishli and forced it to turn back.",
        ],
        "counter_examples": ["US and Russian diplomats met to discuss a ceasefire."],
        "keywords": {"any": ["Derik", "Qamishli", "al-Malikiyah", "convoy"], "all": [["US", "American"], ["Russian"]]},
    }
}


def receiver_links(server: LocalServer) -> dict[str, list[str]]:
    """Item link -> the webhook-id of every request the receiver got for it, in arrival order.

    A list, not a set: "delivered once" means one request, so two notifiers sending the same delivery show up as
    two entries. Where a crash legitimately repeats a delivery (at least once), the test compares ``set(ids)``
    and says why.
    """
    seen: dict[str, list[str]] = {}
    for request in list(server.requests):
        link = json.loads(request.body)["data"]["item"]["link"]
        seen.setdefault(link, []).append(request.headers["webhook-id"])
    return seen


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    """Write a YAML config file."""
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Async ``wait_until``."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def health_status(port: int) -> int | None:
    """HTTP status of /healthz on ``port``, None when nothing answers."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except httpx.HTTPError:
        return None


class ServiceProcess:
    """``python -m tripwire <service> --config FILE --consumer NAME`` as docker-compose runs it, logging to a file."""

    def __init__(
        self,
        service: str,
        config: Path,
        consumer: str,
        redis_url: str,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.service, self.config, self.consumer, self.redis_url = service, config, consumer, redis_url
        self.extra_env = env or {}
        self.log_path = log_dir / f"{service}-{consumer}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *extra: str) -> ServiceProcess:
        """Start (or restart) the process; its log file is appended to."""
        env = {**os.environ, "REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1", **self.extra_env}
        argv = [sys.executable, "-m", "tripwire", self.service, "--config", str(self.config)]
        argv += ["--consumer", self.consumer, "--log-format", "json", *extra]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """SIGTERM, as ``docker stop`` does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """Exit status (waits up to ``timeout``)."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop if still running (test teardown)."""
        if self.alive:
            self.terminate()
            try:
                self.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        out = []
        for line in lines:
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def logged(self, event: str) -> int:
        """How many times ``event`` was logged."""
        return sum(1 for doc in self.events() if doc.get("event") == event)


PORT_FIELDS = ("poller_port", "classifier_port", "notifier_port")
SECRET = "whsec_" + "cmVsaWFiaWxpdHktdGVzdC1zZWNyZXQ="


def config_doc(
    receivers: dict[str, str],
    *,
    feeds: Sequence[str] = (),
    ports: tuple[int, int, int] = (0, 0, 0),
    streams: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A config for service processes: the test topic, one webhook subscription per receiver URL, loopback allowed."""
    return {
        "redis": {"stream_prefix": "tripwire:", "maxlen": 100_000},
        "network": {"allow_private": ["127.0.0.0/8"]},
        "health": {"host": "127.0.0.1", **dict(zip(PORT_FIELDS, ports, strict=True))},
        "streams": {"reclaim_idle": "5s", "sweep_interval": "1s", **(streams or {})},
        "poller": {"default_interval": "1s", "adaptive": False},  # polled every second, not as they publish
        "feeds": [{"url": url} for url in feeds],
        "topics": TOPICS,
        "subscriptions": [
            # updates: each: the test items read alike and join stories; every one must still be delivered once.
            {
                "name": name,
                "type": "webhook",
                "url": url,
                "secret": SECRET,
                "topics": ["standoff"],
                "min_score": 0.3,
                "updates": "each",
            }
            for name, url in receivers.items()
        ],
    }

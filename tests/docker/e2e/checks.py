"""The e2e checks, in order, each printed with its result and timing as it finishes (``make docker-e2e``).

core (the quick set): the image builds; every service turns healthy and the console answers on its published port;
one published item reaches the receiver as one signed webhook; the hardening holds inside the running containers.
full adds: scaled to 3 classifiers and 2 notifiers, 200 items each alerted once; Redis restarted and a classifier
killed mid-burst, nothing lost or sent twice; down and up again, nothing re-sent; the Sentinel stack's failover.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.docker.e2e import ledger
from tests.docker.e2e.stack import Peers, Stack

WEBHOOK_SECRET = "whsec_" + "ZTJlLXN0YWNrLXdlYmhvb2stc2VjcmV0LWtleQ=="
SETTLE_TIMEOUT = 300.0  # seconds for a burst to be delivered on a busy 2-core machine
QUIET_AFTER = 10.0  # seconds a settled ledger must stay unchanged (no late duplicate)
IMAGE_SERVICES = ("poller", "classifier", "notifier", "console")
UID = "10001"


@dataclass
class Report:
    """Each check's outcome, printed as it comes."""

    results: list[tuple[str, bool, str, float]] = field(default_factory=list)
    out: Callable[[str], None] = print

    def run(self, name: str, check: Callable[[], str]) -> bool:
        """Run one check; print PASS/FAIL, what it saw and how long it took."""
        started = time.monotonic()
        try:
            detail, ok = check(), True
        except (AssertionError, subprocess.SubprocessError, httpx.HTTPError, OSError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        seconds = time.monotonic() - started
        self.results.append((name, ok, detail, seconds))
        self.out(f"[{'PASS' if ok else 'FAIL'}] {name} ({seconds:.0f} s): {detail}")
        return ok

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _, _ in self.results)


def settle(stack: Stack, peers: Peers, links: list[str], redis_service: str = "redis") -> ledger.Ledger:
    """Wait until every link is alerted and delivered, then QUIET_AFTER more seconds of no change; the ledger."""
    state: dict[str, ledger.Ledger] = {}

    def done() -> bool:
        state["now"] = ledger.read(stack, peers, WEBHOOK_SECRET, redis_service)
        return state["now"].settled(links)

    stack.wait(f"{len(links)} items alerted and delivered", done, SETTLE_TIMEOUT, every=2.0)
    before = len(state["now"].webhook_ids)
    time.sleep(QUIET_AFTER)
    after = ledger.read(stack, peers, WEBHOOK_SECRET, redis_service)
    assert len(after.webhook_ids) >= before
    return after


def assert_once(book: ledger.Ledger, links: list[str]) -> str:
    """Every link once in the items stream, every alert delivered exactly once, every signature valid."""
    twice_in_items = [link for link in links if book.item_links[link] != 1]
    assert not twice_in_items, f"items not exactly once in the items stream: {twice_in_items[:5]}"
    assert not book.bad_signatures, f"{book.bad_signatures} webhooks failed signature verification"
    assert not book.duplicates, f"webhook-ids received more than once: {book.duplicates[:5]}"
    many = {alert: n for alert, n in book.delivered_alerts.items() if n != 1}
    assert not many, f"alerts delivered more than once: {list(many.items())[:5]}"
    assert not book.undelivered(), f"alerts never delivered: {sorted(book.undelivered())[:5]}"
    mine = [alert for alert, link in book.alert_links.items() if link in set(links)]
    total = len(book.webhook_ids)
    return f"{len(links)} items, {len(mine)} alerts, each delivered once ({total} webhooks so far, all signed)"


def console_answers(console_port: int) -> str:
    """The console's /healthz and its login page on the published loopback port."""
    base = f"http://127.0.0.1:{console_port}"
    health = httpx.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 200, f"{base}/healthz answered {health.status_code}"
    page = httpx.get(f"{base}/", timeout=10)
    assert page.status_code in (200, 303, 401), f"{base}/ answered {page.status_code}"
    return f"{base}/healthz 200, / {page.status_code}"


def hardening(stack: Stack) -> str:
    """Non-root, code not writable, no capabilities, no-new-privileges: inside each running Tripwire container."""
    names = [name for service in IMAGE_SERVICES for name in stack.containers(service)]
    assert names, "no Tripwire container is running"
    for name in names:
        uid = stack.exec(name, "id", "-u").stdout.strip()
        assert uid == UID, f"{name} runs as uid {uid}"
        write = stack.exec(name, "sh", "-c", "touch /opt/venv/lib/e2e-write-test", check=False)
        assert write.returncode != 0, f"{name} could write into /opt/venv"
        status = stack.exec(name, "cat", "/proc/1/status").stdout
        caps = dict(re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, re.MULTILINE))
        assert int(caps["CapEff"], 16) == 0 and int(caps["CapPrm"], 16) == 0, f"{name} has capabilities {caps}"
        assert int(caps["CapBnd"], 16) == 0, f"{name}'s bounding set is not empty: {caps['CapBnd']}"
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE), f"{name}: NoNewPrivs is not set"
    return f"{len(names)} containers: uid {UID}, /opt/venv not writable, CapEff/CapPrm/CapBnd 0, NoNewPrivs 1"


def new_secret() -> str:
    """A password of letters and digits (it goes into REDIS_URL)."""
    return secrets.token_hex(16)


def write_config(folder: Path, shipped: Path) -> Path:
    """The shipped config pointed at the feed container, polled every 2 s; the webhook takes every alert."""
    import yaml

    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    config["feeds"] = [{"url": "http://feed:8080/feed.xml", "name": "e2e feed", "interval": "2s"}]
    # The peers live on the stack's own podman network, a private range the poller and notifier refuse by default.
    config["network"] = {"allow_private": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}
    for subscription in config["subscriptions"]:
        if subscription["type"] == "webhook":
            subscription["min_score"] = 0.0  # every alert in the stream is a delivery: the ledger compares the two
            subscription["updates"] = "each"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tripwire.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    folder.chmod(0o755)
    (folder / "tripwire.yaml").chmod(0o644)
    return folder

"""A small but real WebSub hub on 127.0.0.1 for the tests: verifies intent, keeps leases, signs and pushes content."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs

import httpx

from tripwire.local_http import LocalServer, ReceivedRequest, Reply

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


@dataclass
class HubSubscription:
    """What the hub keeps per (topic, callback)."""

    topic: str
    callback: str
    secret: str | None
    lease_seconds: int


class TestHub:
    """POST hub.mode=subscribe|unsubscribe answers 202, then verifies intent with a GET to the callback (in a thread,
    as a real hub does after answering). ``publish`` pushes a body to every verified subscriber of a topic."""

    __test__ = False

    def __init__(self, lease_seconds: int = 600, method: str = "sha256") -> None:
        self.lease_seconds, self.method = lease_seconds, method
        self.subscriptions: dict[tuple[str, str], HubSubscription] = {}
        self.requests: list[dict[str, str]] = []
        self.verifications: list[tuple[str, int, str]] = []  # (mode, status, body echoed)
        self.verified = threading.Condition()
        self._server = LocalServer(self._respond)

    @property
    def url(self) -> str:
        return f"{self._server.url}/hub"

    def __enter__(self) -> TestHub:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _respond(self, request: ReceivedRequest) -> Reply:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        self.requests.append(form)
        if form.get("hub.mode") not in ("subscribe", "unsubscribe") or not form.get("hub.callback"):
            return Reply(400, b"hub.mode and hub.callback are required")
        threading.Thread(target=self._verify, args=(form,), daemon=True).start()
        return Reply(202)

    def _verify(self, form: dict[str, str]) -> None:
        mode, callback, topic = form["hub.mode"], form["hub.callback"], form["hub.topic"]
        challenge = secrets.token_urlsafe(16)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge,
                  "hub.lease_seconds": str(self.lease_seconds)}  # fmt: skip
        answer = httpx.get(callback, params=params, timeout=10)
        ok = answer.status_code // 100 == 2 and answer.text == challenge
        with self.verified:
            if ok and mode == "subscribe":
                self.subscriptions[(topic, callback)] = HubSubscription(
                    topic, callback, form.get("hub.secret"), self.lease_seconds
                )
            elif ok:
                self.subscriptions.pop((topic, callback), None)
            self.verifications.append((mode, answer.status_code, answer.text))
            self.verified.notify_all()

    def wait_verifications(self, count: int, timeout: float = 20) -> None:
        """Block until ``count`` verifications of intent have completed."""
        with self.verified:
            assert self.verified.wait_for(lambda: len(self.verifications) >= count, timeout), self.verifications

    def publish(self, topic: str, body: bytes, content_type: str = "application/rss+xml") -> list[int]:
        """Push ``body`` to every subscriber of ``topic``, signed as the spec says; the callbacks' status codes."""
        statuses = []
        for sub in [s for s in self.subscriptions.values() if s.topic == topic]:
            headers = {"Content-Type": content_type, "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"'}
            if sub.secret:
                digest = hmac.new(sub.secret.encode(), body, DIGESTS[self.method]).hexdigest()
                headers["X-Hub-Signature"] = f"{self.method}={digest}"
            statuses.append(httpx.post(sub.callback, content=body, headers=headers, timeout=10).status_code)
        return statuses

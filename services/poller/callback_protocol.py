"""Connection handling of the WebSub callback server: what a stranger's TCP connection may cost us.

uvicorn 0.54 has no deadline for receiving a request: ``timeout_keep_alive`` only runs between requests and is
reset by every byte, and ``limit_concurrency`` counts open connections, so 64 connections that never finish their
headers made every real push a 503. Here instead:

- every connection must deliver a complete request head within ``HEAD_SECONDS`` of opening (or of its previous
  answer, on a kept-alive connection); the deadline is total, dripping bytes does not extend it;
- a head larger than ``MAX_HEAD_BYTES`` is refused by h11 (400, connection closed);
- at most ``MAX_CONNECTIONS`` are open: a new one beyond that closes the OLDEST connection that is still waiting
  for its head, so idle or dripping connections can never crowd out a hub that sends its request at once;
- no access log (paths hold callback ids, which are capabilities).

Body deadlines and caps belong to the app (services/poller/websub_server.py): it knows which ids exist.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 10.0
MAX_HEAD_BYTES = 16 * 1024
MAX_CONNECTIONS = 256


class CallbackProtocol(H11Protocol):
    """uvicorn's h11 protocol with a total deadline for each request head and eviction of idle connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per server, on purpose: uvicorn's ``access_log=False`` empties the process-wide "uvicorn.access" logger,
        # which would silence the console's (redacted) access log in ``tripwire run`` too.
        self.access_log = False
        # Our own cap replaces uvicorn's: its limit answers 503 to real requests while idle sockets hold the slots.
        self.limit_concurrency = None
        self.opened_at = time.monotonic()
        self._head_timer: asyncio.TimerHandle | None = None

    @property
    def waiting_for_head(self) -> bool:
        """True until the current request's head arrived (an idle keep-alive connection counts as waiting)."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head deadline; beyond the connection cap, drop the oldest connection still waiting for a head."""
        super().connection_made(transport)
        self._arm_head_deadline()
        if len(self.connections) > MAX_CONNECTIONS:
            idle = [c for c in self.connections if isinstance(c, CallbackProtocol) and c.waiting_for_head]
            if idle:
                min(idle, key=lambda c: c.opened_at).drop()

    def data_received(self, data: bytes) -> None:
        """Feed h11; once a head is complete its deadline is off (the app bounds the body)."""
        super().data_received(data)
        if not self.waiting_for_head:
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        """A kept-alive connection gets a fresh head deadline for its next request."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.waiting_for_head:
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer with the connection."""
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def drop(self) -> None:
        """Close the connection now, without an answer (it never asked anything)."""
        self._disarm_head_deadline()
        if not self.transport.is_closing():
            self.transport.close()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self.opened_at = time.monotonic()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self.waiting_for_head:
            self.drop()

"""A real SMTP server on 127.0.0.1 (aiosmtpd) that receives, parses and keeps every mail, for the email tests."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER, PASSWORD = "alerts@example.org", "smtp-pass-Q7xK2"


@dataclass
class Received:
    """One mail as the server got it."""

    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Keeps mails; ``reply`` (e.g. "451 4.3.0 try later") answers DATA instead of accepting it; ``stall`` ("DATA"
    or "QUIT") keeps the mail and then never answers that command (until ``release`` is set: the peer stops)."""

    reply: str | None = None
    rcpt_reply: str | None = None
    stall: str | None = None
    mails: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    async def _hold(self) -> None:
        while not self.release.is_set():
            await asyncio.sleep(0.02)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        """Accept the recipient, or answer with ``rcpt_reply``."""
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Parse and keep the mail, or answer with ``reply``."""
        if self.reply:
            return self.reply
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        if self.stall == "DATA":
            await self._hold()  # the whole mail is here; its 250 never leaves
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Say goodbye, or (``stall="QUIT"``) never answer."""
        if self.stall == "QUIT":
            await self._hold()
        return "221 Bye"


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


class _Controller(Controller):
    """aiosmtpd cannot see implicit TLS (it wraps the socket before SMTP starts), so it warns that AUTH is allowed
    without TLS; here TLS is always on, so that warning is wrong and is silenced."""

    def factory(self) -> SMTP:
        """The SMTP protocol instance, without the implicit-TLS AUTH warning."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return super().factory()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpPeer:
    """aiosmtpd on a free loopback port: ``mode`` "starttls" (with AUTH), "tls" (implicit, with AUTH), "plain" (no TLS,
    no AUTH: a local MTA) or "plain-auth" (AUTH without TLS)."""

    def __init__(self, ca: trustme.CA, mode: str = "starttls", handler: Handler | None = None) -> None:
        self.handler = handler or Handler()
        self.port = free_port()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_tls)
        kwargs: dict[str, Any] = {}
        if mode == "starttls":
            kwargs = {"tls_context": server_tls, "require_starttls": True, "auth_required": True,
                      "authenticator": _authenticator}  # fmt: skip
        elif mode == "plain-auth":  # a local relay that asks for AUTH but offers no STARTTLS
            kwargs = {"auth_required": True, "authenticator": _authenticator, "auth_require_tls": False}
        elif mode == "tls":
            kwargs = {"ssl_context": server_tls, "auth_required": True, "authenticator": _authenticator,
                      "auth_require_tls": False}  # fmt: skip
        self.controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpPeer:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handler.release.set()
        self.controller.stop()

    @property
    def mails(self) -> list[Received]:
        """Every mail received so far."""
        return self.handler.mails


def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the test CA (and nothing else)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context

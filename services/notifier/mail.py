"""Email: one message per delivery (a digest is one mail) over SMTP with STARTTLS (``smtp://``) or TLS (``smtps://``).

aiosmtplib speaks the protocol. The outbound guard still decides where it connects: the SMTP host is resolved once,
refused if any address is not public (unless in ``network.allow_private``), and the socket is connected to a vetted
address here and handed to aiosmtplib, which keeps the host NAME for TLS (SNI and certificate verification).
``smtp://`` upgrades with STARTTLS and refuses to go on in cleartext if the server does not offer it (a password or
alert must not cross the network unencrypted because a server, or someone in the path, said so). The one exception
is a subscription's ``require_tls: false`` (Alertmanager's smtp_require_tls), for a local relay such as an MTA on
localhost:25 that offers no STARTTLS: then no STARTTLS is tried, and the config allows it only without AUTH or on a
loopback host (shared/config/subscriptions.py); each such subscription is logged once as a warning.

Feed text is escaped for the HTML part (html.escape) and is plain in the text part; header values come from the
plain-text helpers, which collapse CR/LF, so feed text cannot inject a header. The Message-ID is derived from the
delivery id, the same on every retry, so a mail client can drop a duplicate. The SMTP password is in the URL, a
SecretStr: it reaches aiosmtplib's AUTH and nothing else (no reason, log line or metric quotes the URL).

A mail counts as sent once the server accepted it (250 after DATA): a QUIT that is never answered, or a deadline
that runs out during it, changes nothing. From the DATA command on, the server may take the mail even if its answer
is lost: the attempt notes that (SendProgress), and the LOST_ANSWER table in outcome.py says what follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from services.notifier.alert_view import AlertView, alert_view, cut, health_text, source_line
from services.notifier.channel import Delivery, current_progress, vote_urls_of
from services.notifier.outcome import DeliveryResult, SendProgress, result_for_smtp_reply
from shared.clock import Clock, SystemClock
from shared.config import SubscriptionConfig
from shared.logging import get_logger
from shared.outbound import IPAddress, OutboundPolicy, OutboundRefused, Resolver, system_resolver
from shared.schemas import FeedHealthEvent
from shared.votes import VoteLinks, VoteUrls

MAX_ITEMS = 100  # a digest mail stays readable; the rest is counted
RATE, BURST = 1.0, 5  # per SMTP server and account: submission servers throttle bursts
log = get_logger(__name__)


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to submit mail, from ``smtp://[user:pass@]host:port`` (STARTTLS) or ``smtps://`` (TLS)."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None


def smtp_target(url: str) -> SmtpTarget:
    """Parse the subscription's URL; ValueError (without the URL in it) when it is unusable."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("not an smtp:// or smtps:// URL with a host")
    tls = parts.scheme == "smtps"
    return SmtpTarget(parts.hostname, parts.port or (465 if tls else 587), tls,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)  # fmt: skip


def _text_alert(view: AlertView, update: bool) -> str:
    lines = [f"{'Update: ' if update else ''}{view.heading}"]
    if view.link:
        lines.append(view.link)
    if view.summary:
        lines += ["", cut(view.summary, 2000)]
    lines += ["", f"Why: {view.score_line}", *(f"  {line}" for line in view.why)]
    if view.story:
        lines.append(f"Story: {view.story}")
    lines.append(f"Source: {source_line(view)}")
    if view.relevant_url and view.not_relevant_url:
        lines += [f"Relevant: {view.relevant_url}", f"Not relevant: {view.not_relevant_url}"]
    if view.mute_url:
        lines.append(f"Mute this story: {view.mute_url}")
    return "\n".join(lines)


def _html_alert(view: AlertView, update: bool) -> str:
    e = html.escape
    title = e(view.title)
    # view.link is an http(s) URL with quotes and brackets percent-encoded; escaped again for the attribute anyway.
    headline = f'<a href="{e(view.link)}">{title}</a>' if view.link else title
    parts = [f"<h3>{'Update: ' if update else ''}[{e(view.topic)}] {headline}</h3>"]
    if view.summary:
        parts.append(f"<p>{e(cut(view.summary, 2000))}</p>")
    why = "".join(f"<li>{e(line)}</li>" for line in view.why)
    parts.append(f"<p><b>{e(view.score_line)}</b></p><ul>{why}</ul>")
    if view.story:
        parts.append(f"<p><i>{e(view.story)}</i></p>")
    parts.append(f'<p style="color:#666">{e(source_line(view))}</p>')
    if view.relevant_url and view.not_relevant_url:
        parts.append(f'<p>Vote: <a href="{e(view.relevant_url)}">Relevant</a> · '
                     f'<a href="{e(view.not_relevant_url)}">Not relevant</a></p>')  # fmt: skip
    if view.mute_url:
        parts.append(f'<p><a href="{e(view.mute_url)}">Mute this story</a></p>')
    return "\n".join(parts)


def email_message(
    delivery: Delivery, sender: str, recipients: list[str], votes: Mapping[str, VoteUrls], clock: Clock
) -> EmailMessage:
    """The mail of one delivery: text and HTML parts with the same content; a digest is one mail."""
    alerts = delivery.alerts
    views = [(alert_view(a, votes.get(a.id)), a.is_story_update) for a in alerts[:MAX_ITEMS]]
    texts = [_text_alert(v, u) for v, u in views]
    htmls = [_html_alert(v, u) for v, u in views]
    for event in delivery.messages:
        if isinstance(event, FeedHealthEvent):
            heading, body = health_text(event)
            texts.append(f"{heading}\n{body}")
            htmls.append(f"<h3>{html.escape(heading)}</h3><p>{html.escape(body)}</p>")
    left = len(alerts) - len(views)
    if left:
        texts.append(f"… {left} more alerts not shown")
        htmls.append(f"<p>… {left} more alerts not shown</p>")
    if not delivery.digest and len(delivery.messages) == 1:
        subject = texts[0].splitlines()[0]
    else:
        subject = f"Tripwire digest: {len(delivery.messages)} messages"
    message = EmailMessage()
    message["Subject"] = cut(subject, 200)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(clock.now())
    # The same on every retry of this delivery: the receiving side can tell a resend from a new alert.
    message["Message-ID"] = f"<{delivery.id}@tripwire.invalid>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to an alerting robot
    message.set_content("\n\n----\n\n".join(texts))
    message.add_alternative("<html><body>" + "\n<hr>\n".join(htmls) + "</body></html>", subtype="html")
    return message


class _SMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, noting in ``progress`` when the message itself starts to go out (the DATA command):
    from then on a lost answer may hide a mail the server took."""

    progress: SendProgress

    async def data(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        """DATA and the message, as aiosmtplib sends them; ``progress.went_out`` first."""
        self.progress.went_out = True
        return await super().data(*args, **kwargs)


class EmailChannel:
    """Submits mail over SMTP to the subscription's server, connecting only where the outbound guard allows."""

    max_items = MAX_ITEMS
    max_chars: int | None = None

    def __init__(
        self,
        policy: OutboundPolicy,
        clock: Clock | None = None,
        *,
        timeout: float = 10.0,
        votes: VoteLinks | None = None,
        resolver: Resolver = system_resolver,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy, self.clock, self.timeout, self.votes = policy, clock or SystemClock(), timeout, votes
        self.resolver, self.tls_context = resolver, tls_context
        self._cleartext_warned: set[str] = set()

    async def send(self, delivery: Delivery, subscription: SubscriptionConfig) -> DeliveryResult:
        """Submit one mail; SMTP replies and connection errors go through the status table in outcome.py."""
        try:
            target = smtp_target(subscription.url.get_secret_value())
        except ValueError as exc:
            return DeliveryResult.failure(f"invalid url: {exc}", retryable=False, category="invalid_url")
        require_tls = subscription.require_tls or target.implicit_tls
        if not require_tls and subscription.name not in self._cleartext_warned:
            self._cleartext_warned.add(subscription.name)
            log.warning("email_without_tls", subscription=subscription.name, auth=target.username is not None,
                        reason="require_tls: false: mail goes to the relay in cleartext, without STARTTLS")  # fmt: skip
        votes = vote_urls_of(delivery, self.votes, self.clock.now())
        message = email_message(delivery, subscription.email_from or "", subscription.email_to, votes, self.clock)
        progress = current_progress()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._submit(target, message, subscription.email_to, progress, require_tls)
        except OutboundRefused as exc:
            return DeliveryResult.failure(exc.reason, retryable=False, category="refused")
        except TimeoutError:
            if progress.accepted:
                # The server took the mail (250 after DATA), then never answered QUIT: it is sent. Retrying here
                # sent every such mail twice (issue 26).
                return DeliveryResult.success(250)
            return DeliveryResult.failure("no answer: SMTP timeout", retryable=True, category="timeout")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            return result_for_smtp_reply(first.code if first else 550, "every recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            # The server's text may quote what we sent (a recipient address at most), never the password.
            return result_for_smtp_reply(exc.code, cut(" ".join(exc.message.split()), 120))
        except aiosmtplib.SMTPException as exc:
            if "not supported" in exc.message:
                # STARTTLS or AUTH missing: an operator must fix the server or the URL; never fall back to cleartext.
                reason = f"SMTP server: {cut(exc.message, 120)}"
                return DeliveryResult.failure(reason, retryable=False, category="smtp_unsupported")
            return DeliveryResult.failure(f"no answer: {type(exc).__name__}", retryable=True, category="connection")
        except ssl.SSLCertVerificationError:
            return DeliveryResult.failure("TLS certificate not trusted", retryable=False, category="tls")
        except OSError as exc:
            return DeliveryResult.failure(f"no answer: {type(exc).__name__}", retryable=True, category="connection")

    async def _submit(
        self,
        target: SmtpTarget,
        message: EmailMessage,
        recipients: list[str],
        progress: SendProgress,
        require_tls: bool = True,
    ) -> DeliveryResult:
        sock = await self._connect(target)
        # STARTTLS is required on smtp:// unless the subscription says require_tls: false (then never tried).
        start_tls = not target.implicit_tls and require_tls
        client = _SMTP(
            hostname=target.host, sock=sock, use_tls=target.implicit_tls, start_tls=start_tls,
            username=target.username, password=target.password, timeout=self.timeout, tls_context=self.tls_context,
        )  # fmt: skip
        client.progress = progress
        try:
            await client.connect()  # greeting, EHLO, STARTTLS (or TLS from the start), AUTH
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError):
            # The connection never got going, so the socket may still be ours; in every other case the transport
            # aiosmtplib made owns it and closes it (closing it here too would cut a TLS shutdown short).
            sock.close()
            raise
        try:
            refused, _reply = await client.send_message(message, recipients=recipients)
            progress.accepted = True  # 250 after DATA: sent, whatever happens from here on
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()  # the mail is accepted; a lost QUIT changes nothing
        finally:
            client.close()  # also on failure: no transport is left open
        if refused:
            # Some recipients took it: a retry would send it twice to them, so this counts as delivered.
            log.warning("email_recipients_refused", refused=len(refused), accepted=len(recipients) - len(refused))
        return DeliveryResult.success(250)

    async def _connect(self, target: SmtpTarget) -> socket.socket:
        """A TCP socket to a vetted address of the SMTP host (resolved once, every address checked)."""
        addresses = await _resolve(self.resolver, target.host, target.port)
        self.policy.check_addresses(target.host, addresses)
        loop = asyncio.get_running_loop()
        error: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (str(address), target.port))
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError("no address to connect to")


async def _resolve(resolver: Resolver, host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    answers = await resolver(host, port)
    return list(dict.fromkeys(ipaddress.ip_address(answer) for answer in answers))

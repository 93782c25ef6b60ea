"""Checks of the URLs the notifier sends to, at config load: scheme, host and port, in one line that never shows a
credential.

A URL that passed the config check used to fail only when the first alert went out, and then on every alert
(``smtp://u:p@mail.example:99999``: "Port out of range", each mail dead-lettered). Checked here, the service does not
start with it, and the error names the field and the URL with what could be a credential hidden: the user info
(an SMTP password) and the path and query (a Slack, Teams or Discord webhook URL is itself the credential).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

HTTP_SCHEMES = ("https", "http")
SMTP_SCHEMES = ("smtp", "smtps")


def shown(url: str) -> str:
    """``url`` as an error may quote it: scheme, host and port; user info as ``***@``, any path as ``/…``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "(not a URL)"
    if not parts.netloc:
        # No "//": "hooks.slack.com/services/..." (the scheme forgotten) is all path; show its first segment only.
        first, _slash, rest = parts.path.partition("/")
        head = first.rpartition("@")[2]
        return f"{parts.scheme + ':' if parts.scheme else ''}{head}{'/…' if rest or parts.query else ''}"
    _userinfo, at, hostport = parts.netloc.rpartition("@")
    text = f"{parts.scheme}://{'***@' if at else ''}{hostport}"
    if parts.path.strip("/") or parts.query or parts.fragment:
        text += "/…"
    return text


def check_url(url: str, schemes: tuple[str, ...]) -> None:
    """ValueError (one line, the URL shown without credentials) unless ``url`` has one of ``schemes``, a host and a
    port in 1-65535 when it names one."""
    quoted = shown(url)
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError(f"{quoted}: not a URL; write {_example(schemes)}") from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"{quoted}: the scheme must be {' or '.join(f'{s}://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError(f"{quoted}: no host; write {_example(schemes)}")
    port = _port_text(parts)
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{quoted}: port {port} is not a TCP port (1-65535)")


def _port_text(parts: SplitResult) -> str:
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        return hostport.partition("]")[2].removeprefix(":")
    return hostport.rpartition(":")[2] if ":" in hostport else ""


def _example(schemes: tuple[str, ...]) -> str:
    if schemes == SMTP_SCHEMES:
        return "smtp://[user:pass@]host:port (STARTTLS) or smtps://... (TLS)"
    return "https://host[:port]/path"

"""A hostile-peer kit: a feed, article, hub and receiver server that misbehaves on purpose, and a callback client that
attacks the WebSub callback server the way issue 26 describes. Raw sockets on 127.0.0.1 only.

Server paths (any method):
- ``/bomb``: 200, gzip that inflates to ``BOMB_BYTES`` (the answer is ~1000x smaller on the wire);
- ``/drip``: 200 with a large Content-Length, then one byte every ``DRIP_PAUSE`` seconds;
- ``/endless-headers``: a status line, then one header line every ``DRIP_PAUSE`` seconds, forever;
- ``/huge-headers``: one header line of 1 MiB;
- ``/loop``: 302 to itself;
- ``/wrong-type``: 200, ``image/png``, 256 KiB of random bytes;
- ``/brotli``: 200 with ``Content-Encoding: br`` (never offered);
- ``/hub``: 400 whose gzip body inflates to ``BOMB_BYTES`` (issue 26, item 3's hub error);
- ``/feed.xml`` and ``/feed2.xml``: valid RSS advertising ``/hub``, whose items link to the paths above
  (full text).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import socketserver
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

MiB = 1024 * 1024
BOMB_BYTES = 200 * MiB
DRIP_PAUSE = 0.2
ARTICLE_PATHS = ["/bomb", "/drip", "/endless-headers", "/huge-headers", "/loop", "/brotli"]


@cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip stream of ``inflated`` zero bytes, built in 1 MiB steps (never holding the inflated form)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    parts = [packer.compress(zeros) for _ in range(inflated // MiB)]
    parts.append(packer.compress(bytes(inflated % MiB)))
    return b"".join([*parts, packer.flush()])


def feed_xml(base: str, self_path: str = "/feed.xml") -> bytes:
    """RSS advertising ``base``/hub, with items whose one-line summaries send the poller to hostile article pages."""
    items = "".join(
        f"<item><title>Convoy {n}</title><description>Read more.</description><link>{base}{path}?n={n}</link>"
        f"<guid>hostile-{n}</guid></item>"
        for n, path in enumerate(ARTICLE_PATHS)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Hostile</title>'
        f'<atom:link rel="hub" href="{base}/hub"/><atom:link rel="self" href="{base}{self_path}"/>{items}'
        "</channel></rss>"
    ).encode()


class HostileServer:
    """A threaded raw HTTP/1.1 server on 127.0.0.1 that misbehaves by path (see the module docstring)."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.hits: list[str] = []
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError):  # the client gave up, as it should
                    owner._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, sock: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        path = head.split(b" ", 2)[1].decode("latin-1").split("?")[0]
        declared = next((line.split(b":", 1)[1] for line in head.split(b"\r\n")
                         if line.lower().startswith(b"content-length:")), b"0")  # fmt: skip
        body_left = min(int(declared.strip() or 0), MiB) - len(head.split(b"\r\n\r\n", 1)[1])
        while body_left > 0:  # read the request body first: the client must see our answer, not a reset
            chunk = sock.recv(min(body_left, 65536))
            if not chunk:
                return
            body_left -= len(chunk)
        self.hits.append(path)
        send = sock.sendall
        if path == "/bomb" or path == "/hub":
            bomb = gzip_bomb(BOMB_BYTES)
            status = "200 OK" if path == "/bomb" else "400 Bad Request"
            send(f"HTTP/1.1 {status}\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
                 f"Content-Length: {len(bomb)}\r\nConnection: close\r\n\r\n".encode() + bomb)  # fmt: skip
        elif path == "/drip":
            send(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000000\r\n\r\n<rss>")
            while not self.stopping.wait(DRIP_PAUSE):
                send(b" ")
        elif path == "/endless-headers":
            send(b"HTTP/1.1 200 OK\r\n")
            while not self.stopping.wait(DRIP_PAUSE):
                send(b"X-Pad: a\r\n")
        elif path == "/huge-headers":
            send(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * MiB + b"\r\nContent-Length: 0\r\n\r\n")
        elif path == "/loop":
            send(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        elif path == "/wrong-type":
            noise = os.urandom(256 * 1024)
            send(f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len(noise)}\r\n\r\n".encode() + noise)
        elif path == "/brotli":
            send(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n\x0b\x02\x80x")
        elif path in ("/feed.xml", "/feed2.xml"):
            body = feed_xml(self.url, path)
            send(f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                 + body)  # fmt: skip
        else:
            send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


# The callback client: what a stranger does to the WebSub callback server.


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def push_head(path: str, length: int, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/rss+xml\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()  # fmt: skip


@contextmanager
def held_bombs(port: int, path: str, count: int, inflated: int = 10 * MiB) -> Iterator[list[socket.socket]]:
    """Issue 26, item 2: ``count`` connections each sending gzip that inflates to ``inflated`` bytes, minus its last
    bytes, held open. Yields the sockets (their answers, if any, are waiting in them)."""
    bomb = gzip_bomb(inflated)
    socks = []
    try:
        for _ in range(count):
            sock = connect(port)
            sock.sendall(push_head(path, len(bomb), "Content-Encoding: gzip\r\nX-Hub-Signature: sha1=00\r\n"))
            sock.sendall(bomb[:-8])
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


@contextmanager
def idle_connections(port: int, count: int, first_bytes: bytes = b"") -> Iterator[list[socket.socket]]:
    """Issue 26, item 4: ``count`` connections that send ``first_bytes`` (nothing, or half a head) and then wait."""
    socks = []
    try:
        for _ in range(count):
            sock = connect(port)
            if first_bytes:
                sock.sendall(first_bytes)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def status_of(sock: socket.socket) -> int | None:
    """The status of the answer waiting in ``sock``; None when the server closed without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        return None
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (read until EOF or reset; a timeout means it is still open)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def request(port: int, raw: bytes) -> int | None:
    """Send one raw request on a fresh connection; its answer's status (None: closed without one)."""
    with connect(port) as sock:
        # The server may stop reading and close mid-request, as it does past a cap (a 1 MiB head): what it answered,
        # if anything, is still to be read. Seen once in a fresh-clone run as a BrokenPipeError here.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return status_of(sock)


def signed_push(port: int, path: str, secret: str, body: bytes) -> int | None:
    """A real hub's push: signed with the subscription's secret."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return request(port, push_head(path, len(body), f"X-Hub-Signature: {signature}\r\n") + body)


def junk_pushes(port: int, prefix: str, count: int) -> list[int | None]:
    """Pushes to made-up ids, as fast as the server answers."""
    return [request(port, push_head(f"{prefix}/{os.urandom(16).hex()[:22]}", 5) + b"junk!") for _ in range(count)]

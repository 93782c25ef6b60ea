"""Small HTTP servers on 127.0.0.1 for the demo, tests and benchmarks: a feed server and a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What a local server answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedRequest:
    """A request a local server got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[ReceivedRequest], Reply]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers through ``responder``."""

    def __init__(
        self, responder: Responder, on_request: Callable[[ReceivedRequest], None] | None = None, *, port: int = 0
    ) -> None:
        self.responder = responder
        self.on_request = on_request
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _record(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        if self.on_request:
            self.on_request(request)
        return self.responder(request)


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 refuses connections when a client opens many at once (benchmarks).
    request_queue_size = 128


def static_files(files: dict[str, bytes], content_type: str = "application/rss+xml") -> Responder:
    """A responder serving fixed bodies by path (404 for anything else)."""

    def respond(request: ReceivedRequest) -> Reply:
        body = files.get(request.path)
        if body is None:
            return Reply(404, b"not found")
        return Reply(200, body, {"Content-Type": content_type})

    return respond


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                # The client went away mid-request (killed, timed out): nothing was delivered, so record nothing.
                self.close_connection = True
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            reply = server._record(ReceivedRequest(method, self.path, headers, body))
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def article_page(title: str, paragraphs: list[str]) -> bytes:
    """A news article page as sites serve them: navigation, the headline, the paragraphs, related links, a footer."""
    from html import escape

    nav = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>' for s in ("World", "Politics", "Business", "Sport"))
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    related = "".join(f'<li><a href="/r/{n}">Related story {n} you may have missed</a></li>' for n in range(6))
    return (
        f"<!doctype html><html><head><title>{escape(title)} | Example News</title></head><body>"
        f"<header><nav><ul>{nav}</ul></nav><div>Subscribe for unlimited access</div></header>"
        f"<main><article><h1>{escape(title)}</h1><p class='byline'>By Staff Reporter</p>{body}</article>"
        f"<aside><h2>Most read</h2><ul>{related}</ul></aside></main>"
        "<footer><p>Cookie policy. Terms of use. © Example News. All rights reserved.</p></footer></body></html>"
    ).encode()

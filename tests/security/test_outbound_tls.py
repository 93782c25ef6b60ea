"""HTTPS through the guard: the socket goes to the vetted IP, SNI and certificate checks use the hostname."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trustme

from shared.config import NetworkSettings
from shared.http import make_http_client

LOOPBACK = NetworkSettings(allow_private=[ipaddress.ip_network("127.0.0.0/8")])


class TLSServer:
    """An HTTPS server on 127.0.0.1 that answers 200 and records the SNI name of each handshake."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.sni: list[str | None] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment,func-returns-value]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> TLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.headers.get("Host", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[TLSServer]:
    with TLSServer(ca.issue_cert("feed.example")) as tls:
        yield tls


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def resolve_to_loopback(host: str, port: int) -> Sequence[str]:
    return ["127.0.0.1"]


async def test_https_to_vetted_ip_verifies_the_hostname_and_sends_it_as_sni(server: TLSServer, ca: trustme.CA):
    async with make_http_client(
        LOOPBACK, timeout=5, user_agent="t", resolver=resolve_to_loopback, verify=client_context(ca)
    ) as http:
        response = await http.get(f"https://feed.example:{server.port}/feed.xml")
    assert response.status_code == 200
    assert response.text == f"feed.example:{server.port}"
    assert server.sni == ["feed.example"]


async def test_a_certificate_for_another_name_is_rejected(ca: trustme.CA):
    with TLSServer(ca.issue_cert("other.example")) as other:
        async with make_http_client(
            LOOPBACK, timeout=5, user_agent="t", resolver=resolve_to_loopback, verify=client_context(ca)
        ) as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"https://feed.example:{other.port}/")


async def test_an_untrusted_ca_is_rejected(server: TLSServer):
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=resolve_to_loopback) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://feed.example:{server.port}/")

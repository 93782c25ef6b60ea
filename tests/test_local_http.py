"""The local test servers: what they record is what a real receiver would have accepted."""

from __future__ import annotations

import socket

from tripwire.local_http import LocalServer, Reply


def test_a_request_cut_off_mid_body_is_not_recorded() -> None:
    server = LocalServer(lambda _request: Reply(204)).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b'POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"partial":')
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            assert sock.recv(100).startswith(b"HTTP/1.1 204")
    finally:
        server.stop()
    assert [request.body for request in server.requests] == [b"{}"]

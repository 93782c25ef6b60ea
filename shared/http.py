"""The one place outbound HTTP clients are made, so every request follows the same policy."""

from __future__ import annotations

import httpx

from shared.config import NetworkSettings


def make_http_client(
    network: NetworkSettings,
    *,
    timeout: float,
    user_agent: str,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """An async client with our User-Agent and timeouts; redirects are handled by the caller, never implicitly."""
    del network  # The outbound guard (issue 10) uses it; until then every address is allowed.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent},
        follow_redirects=False,
        transport=transport,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )

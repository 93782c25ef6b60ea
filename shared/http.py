"""The one place outbound HTTP clients are made, so every request follows the same policy (shared/outbound.py)."""

from __future__ import annotations

import ssl

import httpx

from shared.config import NetworkSettings
from shared.outbound import GuardedTransport, OutboundPolicy, Resolver, guarded_http_transport, system_resolver


def make_http_client(
    network: NetworkSettings,
    *,
    timeout: float,
    user_agent: str,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 100,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An async client behind the outbound guard, with our User-Agent and timeouts; redirects are the caller's.

    Without ``transport`` the guard resolves each host once with ``resolver``, refuses it if any address
    is not public (unless in ``network.allow_private``) and connects to the vetted address. A caller's
    ``transport`` (httpx.MockTransport in tests) makes no connection of its own choosing through us, so
    only the scheme and IP-literal hosts are checked for it.
    """
    policy = OutboundPolicy(network.allow_private)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    inner = transport or guarded_http_transport(policy, limits=limits, resolver=resolver, verify=verify)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent},
        # Never implicit: each hop is a new request that passes the guard again, and the notifier must
        # not send a signed payload somewhere the operator never configured.
        follow_redirects=False,
        transport=GuardedTransport(inner, policy),
        # An explicit transport already stops httpx from reading HTTP(S)_PROXY (a proxy would make the
        # guard vet the proxy's address instead of the target's); trust_env=False also drops .netrc
        # credentials, so no request carries credentials the config does not show.
        trust_env=False,
    )

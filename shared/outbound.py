"""The outbound guard: every request the service makes goes only to public http(s) addresses unless allowed.

Feed URLs, webhook URLs and article URLs come from config files and from strangers' feeds (links,
redirects). Without a guard, one of them could point the service at 127.0.0.1, the cloud metadata
endpoint 169.254.169.254 or a host on the operator's internal network (SSRF). The policy:

- only ``http`` and ``https`` URLs;
- the host is resolved once, and refused if ANY of its addresses is not public (a name that
  resolves to one public and one private address is refused, whichever address a client would try);
- the connection goes to an address that was checked: the network backend below does the lookup
  itself and connects to the vetted IP, so there is no second lookup that DNS rebinding could
  answer differently. The Host header, TLS SNI and certificate verification still use the
  hostname, because httpcore takes those from the request's origin, not from the socket;
- ``network.allow_private`` lists the private networks an operator allows explicitly (an internal
  receiver, or 127.0.0.0/8 for tests and the demo).

Redirects are never followed by the client (see shared/http.py); a caller that follows one makes a
new request, which passes through this guard again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from shared.errors import RemoteError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host resolves to, as strings. Injected by tests; getaddrinfo otherwise.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Networks that are never public, listed here rather than trusting ``ipaddress.is_global`` alone,
# whose tables have changed between Python patch releases. Both must call an address public.
_NOT_PUBLIC: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, including the cloud metadata endpoint 169.254.169.254
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::ffff:0:0/96",  # IPv4-mapped: would reach an IPv4 address the IPv4 rules never saw
        "::/96",  # IPv4-compatible (deprecated), same reason
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, including Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds an IPv4 address
        "fc00::/7",  # unique-local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# Well-known NAT64 prefix: DNS64 synthesizes these for IPv4-only hosts on IPv6-only networks, so
# they are judged by the IPv4 address they embed rather than refused outright.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(RemoteError, httpx.TransportError):
    """The outbound guard refused a request: a scheme other than http(s), or a host with a non-public address.

    Permanent: the same URL is refused again until the config changes, so it is NEVER retried. The
    notifier maps it to a non-retryable delivery failure, the poller to a feed error. It subclasses
    ``httpx.TransportError`` (not ``NetworkError`` or ``TimeoutException``), so code that catches
    ``httpx.HTTPError`` sees it, and code that retries only network errors and timeouts does not
    retry it. The message names the host and the address, never the URL's path or query (a Slack
    webhook URL's path is its credential), so it is safe to log and to put in a failure reason.
    """

    def __init__(self, reason: str, *, request: httpx.Request | None = None) -> None:
        # ``reason`` ("refused: ...") is what a delivery failure or a feed error shows; it names the setting to change.
        self.reason = f"refused: {reason}"
        super().__init__(f"outbound request {self.reason}", request=request)


def is_public(address: IPAddress) -> bool:
    """True when ``address`` is a public unicast address that the internet routes."""
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
        return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if any(address in network for network in _NOT_PUBLIC):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


class OutboundPolicy:
    """Which addresses outbound requests may reach: public ones, plus the operator's ``allow_private`` networks."""

    def __init__(self, allow_private: Iterable[IPNetwork] = ()) -> None:
        self.allow_private = tuple(allow_private)

    def is_allowed(self, address: IPAddress) -> bool:
        """True when ``address`` is public or inside an explicitly allowed network."""
        if is_public(address):
            return True
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # ::ffff:127.0.0.1 is 127.0.0.1 on the wire: an allowed IPv4 network allows its mapped form.
            candidates.append(address.ipv4_mapped)
        return any(candidate in network for candidate in candidates for network in self.allow_private)

    def check_url(self, url: httpx.URL) -> None:
        """Refuse a URL whose scheme is not http(s), or whose host is an IP literal that is not allowed."""
        if url.scheme not in ALLOWED_SCHEMES:
            raise OutboundRefused(f"scheme {url.scheme!r} is not allowed (only http and https)")
        if not url.host:
            raise OutboundRefused("the URL has no host")
        literal = _ip_literal(url.host)
        if literal is not None:
            self.check_addresses(url.host, [literal])

    def check_addresses(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """Refuse ``host`` unless every one of its addresses is allowed."""
        if not addresses:
            raise OutboundRefused(f"host {host!r} resolved to no address")
        refused = [address for address in addresses if not self.is_allowed(address)]
        if refused:
            raise OutboundRefused(refusal_reason(host, refused))


# Networks an operator may sensibly allow whole (an internal receiver, a relay on this host): a refusal suggests them.
# Any other non-public address (link-local, which holds the cloud metadata endpoint, multicast, reserved, ...) is
# suggested alone, so that copying the hint never opens more than the one address that was refused.
_ALLOWABLE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), kind)
    for cidr, kind in (
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("127.0.0.0/8", "loopback"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique-local"),
    )
)


def allow_hint(address: IPAddress) -> tuple[str, str]:
    """(what kind of address it is, the network to put in ``network.allow_private`` to allow it)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # the policy allows a mapped address through its IPv4 network
    for network, kind in _ALLOWABLE:
        if address in network:
            return kind, str(network)
    kinds = (("link-local", address.is_link_local), ("multicast", address.is_multicast),
             ("unspecified", address.is_unspecified), ("reserved", address.is_reserved))  # fmt: skip
    kind = next((name for name, flag in kinds if flag), "non-public")
    return kind, str(ipaddress.ip_network(address))


def refusal_reason(host: str, refused: Sequence[IPAddress]) -> str:
    """Why ``host`` is refused, and the ``network.allow_private`` entry that would allow it (nothing secret: the
    host and its addresses only, never the URL's path)."""
    hints = [(address, *allow_hint(address)) for address in refused]
    networks = ", ".join(dict.fromkeys(network for _, _, network in hints))
    them = "it" if len(hints) == 1 else "them"
    remedy = f"allow {them} with network.allow_private: [{networks}]"
    if len(hints) == 1:
        address, kind, _ = hints[0]
        article = "an" if kind[0] in "aeiou" and kind != "unique-local" else "a"
        if host.strip("[]") == str(address):
            return f"{address} is {article} {kind} address; {remedy}"
        return f"host {host!r} resolves to {address}, {article} {kind} address; {remedy}"
    listed = ", ".join(f"{address} ({kind})" for address, kind, _ in hints)
    return f"host {host!r} resolves to non-public addresses {listed}; {remedy}"


Lookup = Callable[..., list[tuple[Any, ...]]]
"""socket.getaddrinfo's signature: the blocking call a ThreadedResolver runs (tests pass one that hangs)."""
MAX_LOOKUP_THREADS = 64


class ResolverBusy(RemoteError, OSError):
    """Too many lookups are still hanging in their threads: this one is refused instead of queued."""


class ThreadedResolver:
    """getaddrinfo in daemon threads of its own, never in asyncio's default executor.

    asyncio's ``loop.getaddrinfo`` runs the blocking call in the default executor (6 threads on 2 cores). A lookup
    cancelled by a deadline keeps its thread until the system resolver gives up, which for a broken DNS can be
    never: a few article links to a host that does not resolve then held every thread, the poller's parsing (which
    needs the same executor) waited behind them, and ``asyncio.run`` waited for them at exit (issue 26, item 10).
    Here each lookup has a daemon thread, so a hung one blocks neither the process's exit nor any other work, and
    at most ``max_threads`` hang at once: beyond that a lookup fails at once (a retryable connect error).
    """

    def __init__(self, lookup: Lookup = socket.getaddrinfo, max_threads: int = MAX_LOOKUP_THREADS) -> None:
        self.lookup, self.max_threads = lookup, max_threads
        self._busy = 0
        self._lock = threading.Lock()

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        """Resolve ``host``: all address families, TCP. Cancelling the wait leaves the thread to finish alone."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[tuple[Any, ...]]] = loop.create_future()
        with self._lock:
            if self._busy >= self.max_threads:
                raise ResolverBusy(f"{self._busy} DNS lookups are still waiting for an answer")
            self._busy += 1
        thread = threading.Thread(
            target=self._run, args=(loop, answer, host, port), name="tripwire-dns", daemon=True
        )  # fmt: skip
        thread.start()
        infos = await answer
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def _run(self, loop: asyncio.AbstractEventLoop, answer: asyncio.Future[Any], host: str, port: int) -> None:
        settle: Callable[[asyncio.Future[Any], Any], None]
        try:
            result: Any = self.lookup(host, port, type=socket.SOCK_STREAM)
            settle = _set_result
        except BaseException as exc:  # handed to the waiting coroutine, raised there
            result, settle = exc, _set_exception
        finally:
            with self._lock:
                self._busy -= 1
        with contextlib.suppress(RuntimeError):  # the loop closed while the lookup hung: nobody waits for it
            loop.call_soon_threadsafe(settle, answer, result)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


system_resolver: Resolver = ThreadedResolver()
"""The resolver every outbound client uses unless a test passes another."""


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves once, vets every address, and connects only to vetted ones."""

    def __init__(
        self,
        policy: OutboundPolicy,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, refuse it if any address is not allowed, then connect to the vetted addresses in turn."""
        addresses = await self._resolve(host, port, timeout)
        self.policy.check_addresses(host, addresses)
        # check_addresses refused an empty list, so there is a last address; each earlier one that fails
        # to connect falls through to the next (every one of them was vetted).
        *earlier, last = addresses
        for address in earlier:
            try:
                # The IP, not the name: the socket goes exactly where the check said it may.
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self.inner.connect_tcp(str(last), port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Refused: outbound requests go over TCP to vetted addresses only."""
        raise OutboundRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the inner backend."""
        await self.inner.sleep(seconds)

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        literal = _ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(timeout):
                answers = await self.resolver(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        except OSError as exc:
            # Same class httpx raises for an unknown host today: a transient, retryable network error.
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            # A scoped IPv6 answer ("fe80::1%eth0") keeps its zone here; link-local is refused anyway.
            address = ipaddress.ip_address(answer)
            if address not in addresses:
                addresses.append(address)
        return addresses


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks each request's scheme and literal-IP host, then hands it to the inner transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: OutboundPolicy) -> None:
        self.inner = inner
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse what the policy forbids before any connection is made; otherwise send."""
        try:
            self.policy.check_url(request.url)
            return await self.inner.handle_async_request(request)
        except OutboundRefused as exc:
            # Refusals from the network backend know no request; give every refusal its request, as httpx does.
            exc.request = request
            raise

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def guarded_http_transport(
    policy: OutboundPolicy,
    *,
    limits: httpx.Limits,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (TLS, HTTP/1.1, error mapping) on a connection pool that uses the guarded backend."""
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=verify)
    # httpx 0.28 has no public way to pass an httpcore network backend (encode/httpx PR #3749 proposes one),
    # so the pool it built is replaced by an identical one on our backend; the SSL context (certificate
    # verification, SNI for the request's hostname) is httpx's own.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(policy, resolver),
    )
    return transport


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None

"""The outbound guard: schemes, address classes, one lookup per connection, redirects, TLS to the vetted IP."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import httpx
import pytest

from shared.config import NetworkSettings
from shared.http import make_http_client
from shared.outbound import OutboundPolicy, OutboundRefused, is_public
from tripwire.local_http import LocalServer, Reply

LOOPBACK = NetworkSettings(allow_private=[ipaddress.ip_network("127.0.0.0/8")])

NOT_PUBLIC = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.7", "198.18.0.1",
    "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "::ffff:8.8.8.8", "::127.0.0.1", "64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:7f00:1::1", "2001:db8::1",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::200e", "64:ff9b::808:808"]

LOOPBACK_HINT = r"127\.0\.0\.1 is a loopback address; allow it with network\.allow_private: \[127\.0\.0\.0/8\]"
PRIVATE_HINT = r"10\.0\.0\.7, a private address; allow it with network\.allow_private: \[10\.0\.0\.0/8\]"


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str):
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(OutboundRefused, match=r"an? [A-Za-z -]+ address; allow it with network\.allow_private: \["):
        OutboundPolicy().check_addresses("host.example", [ipaddress.ip_address(address)])


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str):
    assert is_public(ipaddress.ip_address(address))


def test_allow_private_allows_only_the_listed_networks():
    policy = OutboundPolicy([ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.20.0.0/16")])
    assert policy.is_allowed(ipaddress.ip_address("127.0.0.1"))
    assert policy.is_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert policy.is_allowed(ipaddress.ip_address("10.20.3.4"))
    assert not policy.is_allowed(ipaddress.ip_address("10.21.0.1"))
    assert not policy.is_allowed(ipaddress.ip_address("169.254.169.254"))
    assert not policy.is_allowed(ipaddress.ip_address("::1"))


def test_refused_is_a_permanent_transport_error_not_a_retryable_one():
    # Callers retry NetworkError, TimeoutException and RemoteProtocolError; OutboundRefused must be none of them.
    assert issubclass(OutboundRefused, httpx.TransportError)
    assert not issubclass(OutboundRefused, httpx.NetworkError | httpx.TimeoutException | httpx.RemoteProtocolError)


class FakeDNS:
    """A resolver that answers from a table and counts lookups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server():
    with LocalServer(lambda _request: Reply(200, b"ok")) as local:
        yield local


def port_of(local: LocalServer) -> int:
    return int(local.url.rsplit(":", 1)[1])


async def test_loopback_is_refused_by_default_and_nothing_is_sent(server: LocalServer):
    async with make_http_client(NetworkSettings(), timeout=5, user_agent="t") as http:
        with pytest.raises(OutboundRefused, match=LOOPBACK_HINT):
            await http.get(f"{server.url}/feed.xml")
    assert server.requests == []


async def test_a_name_that_resolves_to_loopback_is_refused_by_default(server: LocalServer):
    dns = FakeDNS({"feed.example": [["127.0.0.1"]]})
    async with make_http_client(NetworkSettings(), timeout=5, user_agent="t", resolver=dns) as http:
        with pytest.raises(
            OutboundRefused, match=r"'feed\.example' resolves to 127\.0\.0\.1, a loopback address"
        ) as caught:
            await http.get(f"http://feed.example:{port_of(server)}/feed.xml")
    assert caught.value.request.url.host == "feed.example"
    assert server.requests == []


async def test_allowed_name_connects_to_the_vetted_address_and_keeps_the_host_header(server: LocalServer):
    dns = FakeDNS({"feed.example": [["127.0.0.1"]]})
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=dns) as http:
        response = await http.get(f"http://feed.example:{port_of(server)}/feed.xml")
    assert response.status_code == 200
    assert server.requests[0].headers["host"] == f"feed.example:{port_of(server)}"
    assert dns.lookups == ["feed.example"]


async def test_one_lookup_per_connection_so_rebinding_cannot_redirect_it(server: LocalServer):
    # A rebinding DNS answers a harmless address first and the metadata address afterwards; the guard
    # must connect to the first answer, never ask again for the same connection.
    dns = FakeDNS({"feed.example": [["127.0.0.1"], ["169.254.169.254"]]})
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=dns) as http:
        for _ in range(3):
            assert (await http.get(f"http://feed.example:{port_of(server)}/")).status_code == 200
    assert dns.lookups == ["feed.example"]  # one connection, kept alive, one lookup
    assert len(server.requests) == 3


async def test_a_new_connection_vets_the_new_answer(server: LocalServer):
    dns = FakeDNS({"feed.example": [["127.0.0.1"], ["169.254.169.254"]]})
    url = f"http://feed.example:{port_of(server)}/"
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=dns) as http:
        assert (await http.get(url)).status_code == 200
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=dns) as http:
        with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254"):
            await http.get(url)
    assert len(server.requests) == 1


async def test_any_non_public_answer_refuses_the_host(server: LocalServer):
    dns = FakeDNS({"mixed.example": [["127.0.0.1", "10.0.0.7"]]})
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=dns) as http:
        with pytest.raises(OutboundRefused, match=PRIVATE_HINT):
            await http.get(f"http://mixed.example:{port_of(server)}/")
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/"])
async def test_only_http_and_https(url: str):
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t") as http:
        with pytest.raises(OutboundRefused, match=r"only http and https"):
            await http.get(url)


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[::1]:80/", "http://0.0.0.0:80/", "http://[::ffff:a00:1]/"],
)
async def test_ip_literals_are_checked_without_a_lookup(url: str):
    dns = FakeDNS({})
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=dns) as http:
        with pytest.raises(OutboundRefused):
            await http.get(url)
    assert dns.lookups == []


async def test_every_redirect_hop_passes_the_guard():
    target = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    with LocalServer(lambda _request: Reply(302, b"", {"Location": target})) as redirector:
        async with make_http_client(LOOPBACK, timeout=5, user_agent="t") as http:
            first = await http.get(f"{redirector.url}/feed.xml")
            assert first.status_code == 302  # the client never follows on its own
            # A caller that follows makes a new request; it is refused like any other.
            with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254"):
                await http.get(first.headers["location"])
            # Even httpx's own following sends each hop through the guard.
            with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254"):
                await http.get(f"{redirector.url}/feed.xml", follow_redirects=True)


async def test_unknown_host_stays_an_ordinary_connect_error():
    async with make_http_client(LOOPBACK, timeout=5, user_agent="t", resolver=FakeDNS({})) as http:
        with pytest.raises(httpx.ConnectError, match=r"cannot resolve 'nowhere\.example'"):
            await http.get("http://nowhere.example/")


async def test_a_caller_transport_still_gets_the_scheme_and_literal_checks():
    mock = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))
    async with make_http_client(NetworkSettings(), timeout=5, user_agent="t", transport=mock) as http:
        assert (await http.get("https://hooks.slack.example/services/T/B/X")).status_code == 200
        with pytest.raises(OutboundRefused):
            await http.get("http://10.0.0.1/")
        with pytest.raises(OutboundRefused):
            await http.get("ftp://hooks.slack.example/")


async def test_refusal_message_never_carries_the_path_or_query():
    async with make_http_client(NetworkSettings(), timeout=5, user_agent="t") as http:
        with pytest.raises(OutboundRefused) as caught:
            await http.post("http://127.0.0.1:9/services/T000/B000/SECRETTOKEN?token=abc", content=b"{}")
    assert "SECRETTOKEN" not in str(caught.value) and "abc" not in str(caught.value)
    assert caught.value.request.url.host == "127.0.0.1"


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "127.1", "0", "localhost", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]"]
)
async def test_other_spellings_of_loopback_are_refused_by_the_system_resolver(host: str):
    # Numeric forms that getaddrinfo (inet_aton) turns into 127.0.0.1 or 0.0.0.0, and /etc/hosts' localhost:
    # all resolved locally, no query leaves the machine.
    async with make_http_client(NetworkSettings(), timeout=5, user_agent="t") as http:
        with pytest.raises(OutboundRefused, match=r"an? [A-Za-z -]+ address; allow it with network\.allow_private: \["):
            await http.get(f"http://{host}:9/x")

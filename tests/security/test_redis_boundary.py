"""REDIS_URL with a password and with TLS (rediss://) against a real redis-server; errors never show the password."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis
import trustme
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.config import Settings, load_settings
from shared.redis_server import RedisServer, find_redis_server, free_port
from tests.conftest import REPO_ROOT
from tripwire.runtime import UsageError, redis_connection

PASSWORD = "redis-pw-" + "Zq8vX2mK7tLw"
CONFIG = str(REPO_ROOT / "config" / "tripwire.yaml")


def settings_for(url: str) -> Settings:
    """What a service gets from its environment: REDIS_URL and the shipped config."""
    return load_settings(CONFIG, environ={"REDIS_URL": url}, consumer_name="t")


@pytest.fixture(scope="module")
def password_server() -> Iterator[RedisServer]:
    with RedisServer(appendonly=False, password=PASSWORD) as server:
        yield server


async def test_password_from_redis_url_works(password_server: RedisServer):
    url = f"redis://:{PASSWORD}@127.0.0.1:{password_server.port}/0"
    async with redis_connection(settings_for(url), allow_embedded=False, command="poller") as client:
        await client.xadd("tripwire:test", {"k": "v"})
        assert await client.xlen("tripwire:test") >= 1
        assert PASSWORD not in repr(client)


async def test_missing_or_wrong_password_fails_without_echoing_it(password_server: RedisServer):
    no_auth = f"redis://127.0.0.1:{password_server.port}/0"
    # Waiting would not fix credentials: the service stops at once with what to check (exit 2 from the CLI).
    with pytest.raises(UsageError, match="Redis refused the credentials"):
        async with redis_connection(settings_for(no_auth), allow_embedded=False, command="poller"):
            pass
    wrong = "wrong-" + PASSWORD[::-1]
    settings = settings_for(f"redis://:{wrong}@127.0.0.1:{password_server.port}/0")
    with pytest.raises(UsageError, match="Redis refused the credentials") as caught:
        async with redis_connection(settings, allow_embedded=False, command="poller"):
            pass
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert wrong not in repr(settings) and wrong not in str(settings)


class TLSRedis:
    """redis-server with only a TLS port (plain TCP disabled), a password, and a throwaway CA's certificate."""

    def __init__(self, tmp: Path, ca: trustme.CA) -> None:
        self.dir = tmp
        self.port = free_port()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.private_key_pem.write_to_path(str(tmp / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(tmp / "server.crt"))
        ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
        self.ca_path = tmp / "ca.pem"
        argv = [
            find_redis_server(),
            "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(tmp / "server.crt"), "--tls-key-file", str(tmp / "server.key"),
            "--tls-ca-cert-file", str(self.ca_path), "--tls-auth-clients", "no",
            "--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(tmp),
            "--logfile", "redis.log", "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def url(self, host: str = "localhost") -> str:
        return f"rediss://:{PASSWORD}@{host}:{self.port}/0?ssl_ca_certs={self.ca_path}"

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace") if (self.dir / "redis.log").exists() else ""
                output = (self.process.stdout.read() if self.process.stdout else b"").decode(errors="replace")
                if "tls" in (log + output).lower():
                    pytest.skip(f"this redis-server was built without TLS support: {(log + output).strip()[-200:]}")
                raise RuntimeError(f"redis-server exited: {output} {log}")
            try:
                sync_redis.Redis.from_url(self.url(), socket_timeout=2).ping()
                return
            except RedisError:
                time.sleep(0.05)  # readiness poll of a child process, not a wait for work under test
        raise RuntimeError("TLS redis-server did not answer")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedis]:
    server = TLSRedis(tmp_path_factory.mktemp("redis-tls"), trustme.CA())
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


async def test_rediss_url_with_password_works(tls_server: TLSRedis):
    async with redis_connection(settings_for(tls_server.url()), allow_embedded=False, command="notifier") as client:
        await client.set("tripwire:tls-probe", "1")
        assert await client.get("tripwire:tls-probe") == b"1"


async def test_rediss_verifies_the_server_certificate(tls_server: TLSRedis, tmp_path: Path):
    other_ca = trustme.CA()
    other_ca.cert_pem.write_to_path(str(tmp_path / "other.pem"))
    url = f"rediss://:{PASSWORD}@localhost:{tls_server.port}/0?ssl_ca_certs={tmp_path / 'other.pem'}"
    with pytest.raises(UsageError, match="TLS certificate did not verify"):
        async with redis_connection(settings_for(url), allow_embedded=False, command="notifier"):
            pass


async def test_plain_redis_url_cannot_talk_to_the_tls_port(tls_server: TLSRedis):
    url = f"redis://:{PASSWORD}@127.0.0.1:{tls_server.port}/0?socket_timeout=5"
    # A service would wait for this "Redis" as for one still starting; the client itself must fail.
    client = Redis.from_url(url)
    with pytest.raises(RedisError):
        await client.ping()
    await client.aclose()

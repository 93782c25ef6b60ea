"""docker-compose.sentinel.yml over docker-compose.yml, read as Docker Compose reads it: a primary, a replica and
three Sentinels, and services whose environment makes a valid Sentinel config pointing at them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.config import load_settings
from tests.docker.stack import COMPOSE_FILE, IMAGE_SERVICES, REPO_ROOT, TEST_PASSWORD, tool, write_env_file

SENTINEL_FILE = REPO_ROOT / "docker-compose.sentinel.yml"
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both files merged and interpolated with .env.example and a password."""
    home = tmp_path_factory.mktemp("compose-sentinel")
    env_file = write_env_file(home / ".env", REDIS_PASSWORD=TEST_PASSWORD)
    argv = [tool("docker-compose"), "-f", str(COMPOSE_FILE), "-f", str(SENTINEL_FILE), "--env-file", str(env_file)]
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
    result = subprocess.run(
        [*argv, "config", "--format", "json"], capture_output=True, text=True, env=environ, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_the_stack_gains_a_replica_and_three_sentinels(compose: dict[str, Any]):
    services = compose["services"]
    assert {"redis", "redis-replica", *SENTINELS} <= set(services)
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 : replica.index("--replicaof") + 3] == ["redis", "6379"]
    assert TEST_PASSWORD in replica[replica.index("--masterauth") + 1]
    for name in SENTINELS:
        script = " ".join(services[name]["command"])
        assert "sentinel monitor tripwire redis 6379 2" in script  # a quorum of two of the three
        assert f"sentinel auth-pass tripwire {TEST_PASSWORD}" in script
        assert "--sentinel" in script
        assert services[name]["networks"].keys() == {"backend"}


@pytest.mark.parametrize("service", IMAGE_SERVICES)
def test_each_service_gets_a_sentinel_config_that_names_those_sentinels(
    compose: dict[str, Any], service: str, tmp_path: Path
):
    environ = compose["services"][service]["environment"]
    settings = load_settings(str(REPO_ROOT / "config" / "tripwire.yaml"), environ)
    redis = settings.config.redis
    assert redis.mode == "sentinel"
    assert [entry.rpartition(":")[0] for entry in redis.sentinels] == list(SENTINELS)
    assert all(entry.endswith(":26379") for entry in redis.sentinels)
    assert redis.service_name == "tripwire"
    assert settings.redis_url is not None  # still the credentials

"""docker-compose.yml, read as Docker Compose reads it, agrees with the CLI, the config model and .env.example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.config import ConsoleSettings
from tests.docker.stack import (
    COMPOSE_FILE,
    CONSOLE,
    ENV_EXAMPLE,
    IMAGE_SERVICES,
    REPO_ROOT,
    TEST_PASSWORD,
    TRIPWIRE_SERVICES,
    env_example_variables,
    raw_compose,
    resolved_compose,
    run_compose,
    variables_used_in,
    write_env_file,
)
from tripwire.cli import build_parser

CONFIG_IN_CONTAINER = "/config/tripwire.yaml"


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack as `docker compose` would run it with .env.example and a password filled in."""
    home = tmp_path_factory.mktemp("compose-home")
    return resolved_compose(write_env_file(home / ".env", REDIS_PASSWORD=TEST_PASSWORD), home)


def test_the_stack_is_redis_the_three_services_and_the_console(compose: dict[str, Any]):
    assert set(compose["services"]) == {"redis", *TRIPWIRE_SERVICES, CONSOLE}


@pytest.mark.parametrize("service", TRIPWIRE_SERVICES)
def test_each_command_is_that_tripwire_subcommand_with_the_mounted_config(compose: dict[str, Any], service: str):
    command = compose["services"][service]["command"]
    assert command == [service, "--config", CONFIG_IN_CONTAINER]
    args = build_parser().parse_args(command)
    assert args.command == service
    assert args.config == CONFIG_IN_CONTAINER


@pytest.mark.parametrize("service", IMAGE_SERVICES)
def test_the_config_folder_is_mounted_read_only(compose: dict[str, Any], service: str):
    mounts = [m for m in compose["services"][service]["volumes"] if m["target"] == "/config"]
    assert len(mounts) == 1
    assert mounts[0]["read_only"] is True
    assert Path(mounts[0]["source"]) == REPO_ROOT / "config"
    assert (REPO_ROOT / "config" / Path(CONFIG_IN_CONTAINER).name).is_file()


@pytest.mark.parametrize("service", TRIPWIRE_SERVICES)
def test_healthcheck_probes_the_port_the_service_listens_on(compose: dict[str, Any], service: str):
    service_spec = compose["services"][service]
    # No spaces in any argument: podman's Docker-compatible API splits CMD arguments on spaces.
    assert service_spec["healthcheck"]["test"] == ["CMD", "tripwire", "healthcheck", service]
    # The service must listen beyond its own loopback for Docker's probes and metrics scrapers.
    assert service_spec["environment"]["TRIPWIRE_HEALTH_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("service", IMAGE_SERVICES)
def test_services_wait_for_redis_restart_and_have_a_memory_limit(compose: dict[str, Any], service: str):
    spec = compose["services"][service]
    assert spec["depends_on"]["redis"]["condition"] == "service_healthy"
    assert spec["restart"] == "unless-stopped"
    assert int(spec["deploy"]["resources"]["limits"]["memory"]) > 0


@pytest.mark.parametrize("service", TRIPWIRE_SERVICES)
def test_services_can_be_scaled(compose: dict[str, Any], service: str):
    # A fixed container name or a published host port would make `--scale service=3` fail.
    spec = compose["services"][service]
    assert "container_name" not in spec
    assert not spec.get("ports")
    # Consumer names then default to each container's host name (its id), which is unique per replica.
    assert "hostname" not in spec
    assert "TRIPWIRE_CONSUMER" not in spec["environment"]


@pytest.mark.parametrize("service", IMAGE_SERVICES)
def test_services_reach_redis_with_the_password_from_env(compose: dict[str, Any], service: str):
    environment = compose["services"][service]["environment"]
    assert environment["REDIS_URL"] == f"redis://:{TEST_PASSWORD}@redis:6379/0"
    assert "backend" in compose["services"][service]["networks"]


def test_redis_is_private_persistent_and_password_protected(compose: dict[str, Any]):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[0] == "redis-server"
    assert _option(command, "--appendonly") == "yes"
    assert _option(command, "--requirepass") == TEST_PASSWORD
    assert redis["restart"] == "unless-stopped"
    assert "healthcheck" in redis and not redis["healthcheck"].get("disable")
    assert not redis.get("ports")
    assert list(redis["networks"]) == ["backend"]
    assert compose["networks"]["backend"]["internal"] is True
    data = [m for m in redis["volumes"] if m["target"] == "/data"]
    assert data[0]["type"] == "volume"
    assert data[0]["source"] in compose["volumes"]


def test_only_the_services_that_fetch_or_deliver_reach_outside(compose: dict[str, Any]):
    assert set(compose["services"]["classifier"]["networks"]) == {"backend"}
    for service in ("poller", "notifier"):
        network = next(n for n in compose["services"][service]["networks"] if n != "backend")
        assert not compose["networks"][network].get("internal")


def test_every_variable_the_compose_file_uses_is_documented_in_env_example():
    used = variables_used_in(COMPOSE_FILE)
    documented = set(env_example_variables())
    assert used - documented == set(), f"add these to {ENV_EXAMPLE.name}"
    assert documented - used == set(), f"{ENV_EXAMPLE.name} documents variables docker-compose.yml does not use"


def test_env_example_holds_no_secret():
    values = env_example_variables()
    assert values["REDIS_PASSWORD"] == ""
    assert all(value == "" for name, value in values.items() if name != "TRIPWIRE_IMAGE")


CONSOLE_KEYS = {"TRIPWIRE_CONSOLE_PASSWORD", "TRIPWIRE_CONSOLE_SECRET", "TRIPWIRE_VOTE_SECRET"}
DELIVERY_SECRETS = {"SLACK_WEBHOOK_URL", "TRIPWIRE_WEBHOOK_URL", "TRIPWIRE_WEBHOOK_SECRET"}


def test_every_variable_the_shipped_config_reads_reaches_the_services_that_use_it(compose: dict[str, Any]):
    wanted = variables_used_in(REPO_ROOT / "config" / "tripwire.yaml")
    assert wanted >= CONSOLE_KEYS and wanted >= DELIVERY_SECRETS
    # The console's public address only matters where vote links are made (the notifier).
    console_only = CONSOLE_KEYS | {"TRIPWIRE_CONSOLE_URL"}
    for service in TRIPWIRE_SERVICES:
        assert wanted - console_only <= set(compose["services"][service]["environment"]), service
    assert set(compose["services"][CONSOLE]["environment"]) >= CONSOLE_KEYS
    # The notifier signs the vote links in alerts; the console checks them.
    assert {"TRIPWIRE_VOTE_SECRET", "TRIPWIRE_CONSOLE_URL"} <= set(compose["services"]["notifier"]["environment"])


def test_each_secret_reaches_only_the_services_that_need_it(compose: dict[str, Any]):
    login = {"TRIPWIRE_CONSOLE_PASSWORD", "TRIPWIRE_CONSOLE_SECRET"}
    for service in TRIPWIRE_SERVICES:
        assert not login & set(compose["services"][service]["environment"]), service
    assert not DELIVERY_SECRETS & set(compose["services"][CONSOLE]["environment"])


def test_compose_refuses_to_start_without_a_redis_password(tmp_path: Path):
    result = run_compose(write_env_file(tmp_path / ".env"), "config", "--quiet", home=tmp_path)
    assert result.returncode != 0
    assert "REDIS_PASSWORD" in result.stderr


def test_console_runs_tripwire_console_on_all_container_addresses(compose: dict[str, Any]):
    command = compose["services"][CONSOLE]["command"]
    assert command == ["console", "--config", CONFIG_IN_CONTAINER, "--host", "0.0.0.0"]
    args = build_parser().parse_args(command)
    assert (args.command, args.config, args.host, args.port) == ("console", CONFIG_IN_CONTAINER, "0.0.0.0", None)


def test_console_is_published_on_the_hosts_loopback_by_default(compose: dict[str, Any]):
    [port] = compose["services"][CONSOLE]["ports"]
    assert port["host_ip"] == "127.0.0.1"
    assert int(port["published"]) == port["target"] == ConsoleSettings().port
    # Publishing needs a network with a route: backend is internal, so the console also joins a non-internal one.
    networks = set(compose["services"][CONSOLE]["networks"])
    assert "backend" in networks and any(not compose["networks"][n].get("internal") for n in networks - {"backend"})
    assert "container_name" not in compose["services"][CONSOLE]


def test_console_is_published_on_loopback_with_its_port_from_env(tmp_path: Path):
    env = write_env_file(tmp_path / ".env", REDIS_PASSWORD=TEST_PASSWORD, TRIPWIRE_CONSOLE_PORT="8443")
    [port] = resolved_compose(env, tmp_path)["services"][CONSOLE]["ports"]
    assert (port["host_ip"], int(port["published"]), port["target"]) == ("127.0.0.1", 8443, ConsoleSettings().port)


def test_console_healthcheck_probes_its_own_port(compose: dict[str, Any]):
    assert compose["services"][CONSOLE]["healthcheck"]["test"] == ["CMD", "tripwire", "healthcheck", CONSOLE]


def test_env_example_says_how_to_make_the_console_keys():
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "secrets.token_urlsafe(32)" in text
    assert set(env_example_variables()) >= CONSOLE_KEYS


def test_raw_file_sets_no_container_name_anywhere():
    assert all("container_name" not in spec for spec in raw_compose()["services"].values())


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]

"""TRIPWIRE_HEALTH_HOST: containers bind /healthz on 0.0.0.0 while the config file keeps 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from shared.config import load_settings
from tests.docker.stack import REPO_ROOT

CONFIG = str(REPO_ROOT / "config" / "tripwire.yaml")


def test_default_outside_a_container_is_loopback():
    assert load_settings(CONFIG, environ={}, consumer_name="t").config.health.host == "127.0.0.1"


def test_environment_overrides_the_health_host():
    settings = load_settings(CONFIG, environ={"TRIPWIRE_HEALTH_HOST": "0.0.0.0"}, consumer_name="t")
    assert settings.config.health.host == "0.0.0.0"
    assert settings.config.health.poller_port == 9101


def test_environment_overrides_the_value_in_the_file(tmp_path: Path):
    config = tmp_path / "tripwire.yaml"
    config.write_text("health: {host: 127.0.0.2}\n", encoding="utf-8")
    assert load_settings(str(config), environ={}, consumer_name="t").config.health.host == "127.0.0.2"
    overridden = load_settings(str(config), environ={"TRIPWIRE_HEALTH_HOST": "0.0.0.0"}, consumer_name="t")
    assert overridden.config.health.host == "0.0.0.0"


def test_an_empty_variable_changes_nothing():
    settings = load_settings(CONFIG, environ={"TRIPWIRE_HEALTH_HOST": "  "}, consumer_name="t")
    assert settings.config.health.host == "127.0.0.1"

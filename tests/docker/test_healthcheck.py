"""``tripwire healthcheck SERVICE``, the compose healthchecks' command, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.redis_server import free_port
from tests.docker.stack import REPO_ROOT
from tripwire.cli import main
from tripwire.local_http import LocalServer, Reply


def _config_with_port(tmp_path: Path, service: str, port: int) -> Path:
    config = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"))
    if service == "console":
        config.setdefault("console", {})["port"] = port
    else:
        config.setdefault("health", {})[f"{service}_port"] = port
    path = tmp_path / "tripwire.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.parametrize("service", ["poller", "classifier", "notifier", "console"])
@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_healthcheck_exits_0_only_on_a_200_from_the_port_in_the_config(
    tmp_path: Path, service: str, status: int, exit_code: int
):
    server = LocalServer(lambda _request: Reply(status, b"{}")).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        config = _config_with_port(tmp_path, service, port)
        assert main(["healthcheck", service, "--config", str(config)]) == exit_code
        assert [request.path for request in server.requests] == ["/healthz"]
    finally:
        server.stop()


def test_healthcheck_fails_with_the_reason_when_nothing_listens(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = _config_with_port(tmp_path, "notifier", free_port())
    assert main(["healthcheck", "notifier", "--config", str(config), "--timeout", "2"]) == 1
    assert "/healthz" in capsys.readouterr().err

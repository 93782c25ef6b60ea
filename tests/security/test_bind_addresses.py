"""Health, metrics and the embedded Redis listen on 127.0.0.1 unless the operator says otherwise."""

from __future__ import annotations

import httpx

from shared.config import HealthSettings, TripwireConfig, load_settings
from shared.health import HealthState
from shared.redis_server import RedisServer, free_port
from tests.conftest import REPO_ROOT
from tripwire.runtime import start_health_server


def test_health_host_defaults_to_loopback(default_config: TripwireConfig):
    assert HealthSettings().host == "127.0.0.1"
    assert default_config.health.host == "127.0.0.1"  # the shipped config does not widen it


def test_health_and_metrics_bind_to_loopback_by_default():
    settings = load_settings(str(REPO_ROOT / "config" / "tripwire.yaml"), environ={}, consumer_name="t")
    state = HealthState()
    state.beat(redis_ok=True)
    server = start_health_server(settings, free_port(), {"poller": state})
    assert server is not None
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/metrics").status_code == 200
    finally:
        server.stop()


def test_embedded_redis_binds_to_loopback(redis_server: RedisServer):
    assert redis_server.client().config_get("bind") == {"bind": "127.0.0.1"}
    assert redis_server.client().config_get("protected-mode") == {"protected-mode": "yes"}

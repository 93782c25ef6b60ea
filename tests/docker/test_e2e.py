"""The Docker stack built and run for real on a container engine (podman through its Docker-compatible API, driven by
the Docker Compose v2 binary): tests/docker/e2e/checks.py lists the checks. ``make docker-e2e`` runs the same checks
and prints each one; here they run as one slow test, which skips with the reason where no engine can start."""

from __future__ import annotations

import pytest

from tests.docker.e2e import engine
from tests.docker.e2e.scenario import run

pytestmark = pytest.mark.slow


def test_the_compose_stack_runs_for_real_and_loses_nothing(capsys: pytest.CaptureFixture[str]):
    reason = engine.unavailable_reason()
    if reason:
        pytest.skip(f"no container engine can start here: {reason}")
    try:
        report = run(lambda line: print(line, flush=True))
    except engine.EngineUnavailable as exc:
        pytest.skip(f"no container engine can start here: {exc}")
    failed = [f"{name}: {detail}" for name, ok, detail, _ in report.results if not ok]
    assert not failed, "\n".join(failed)

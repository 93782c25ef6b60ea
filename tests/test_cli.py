"""The tripwire command: exit 2 with one clear line for bad config or usage, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT
from tripwire.cli import main


def tripwire(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tripwire`` as a user would."""
    full_env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tripwire", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120
    )


def test_bad_config_exits_2_with_one_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("poller:\n  default_interval: soon\n")
    result = tripwire("poller", "--once", "--config", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}: poller.default_interval: 'soon' is not valid" in result.stderr


def test_single_service_without_redis_url_says_what_it_needs():
    result = tripwire("classifier", "--drain")
    assert result.returncode == 2
    assert "needs a Redis: REDIS_URL is unset and no 'tripwire run' of this config is running" in result.stderr
    assert "6379" not in result.stderr  # no port it has not checked (issue 25: somebody else's Redis)


def test_config_from_environment_variable(tmp_path: Path):
    result = tripwire("poller", "--once", env={"TRIPWIRE_CONFIG": str(tmp_path / "missing.yaml")})
    assert result.returncode == 2 and "missing.yaml: config file not found" in result.stderr


def test_common_options_hold_on_every_level(tmp_path: Path) -> None:
    # `tripwire feeds --config X import --write` wrote to the default config file: the innermost subcommand's
    # parser set --config's default again over the value given on the outer level.
    config = tmp_path / "tripwire.yaml"
    config.write_text((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    opml = tmp_path / "list.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline type="rss" text="SANA" xmlUrl="https://sana.sy/en/?feed=rss2"/></body></opml>',
        encoding="utf-8",
    )
    shipped = (REPO_ROOT / "config" / "tripwire.yaml").read_bytes()
    assert main(["feeds", "--config", str(config), "import", str(opml), "--write"]) == 0
    assert "https://sana.sy/en/?feed=rss2" in config.read_text(encoding="utf-8")
    assert (REPO_ROOT / "config" / "tripwire.yaml").read_bytes() == shipped

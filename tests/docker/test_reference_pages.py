"""The docs' generated reference pages (configuration, command line) are current and cover config and environment."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from shared.config import TripwireConfig
from tests.docker.stack import REPO_ROOT
from tripwire.cli import build_parser, main
from tripwire.cli_reference import generate_cli_reference
from tripwire.config_reference import ENVIRONMENT_VARIABLES, HEADING, generate_reference
from tripwire.reference_pages import main as reference_main
from tripwire.reference_pages import stale_pages


def test_the_reference_pages_equal_what_the_code_generates():
    assert stale_pages() == [], "docs/reference is stale: run `make reference`"


def test_every_subcommand_is_in_the_cli_reference():
    text = generate_cli_reference(build_parser())
    for name in ("run", "feeds", "score", "eval", "backtest", "dlq", "test-alert", "console", "model"):
        assert f"## `tripwire {name}`" in text
    assert "usage: tripwire run" in text


def test_every_config_field_is_in_the_reference():
    text = generate_reference()
    for name in TripwireConfig.model_fields:
        assert f"| `{name}` |" in text
    assert "| `topics.<name>.keywords.any` |" in text
    assert "| `subscriptions[].url` | secret string |" in text


def test_every_environment_variable_the_loader_reads_is_documented():
    loader = (REPO_ROOT / "shared" / "config" / "loader.py").read_text(encoding="utf-8")
    read = set(re.findall(r"""(?:env|environ)\.get\(\s*["']([A-Z_][A-Z0-9_]*)["']""", loader))
    assert read
    assert read <= set(ENVIRONMENT_VARIABLES)


def test_durations_defaults_and_bounds_read_as_written_in_the_file():
    text = generate_reference()
    assert "| `poller.default_interval` | duration (> 0) | `5m` |" in text
    assert "| `feeds[].url` | string | *required* |" in text
    assert "| `redis.maxlen` | integer (≥ 1000) | `100000` |" in text


def test_a_new_field_shows_up_in_the_reference():
    class Extra(BaseModel):
        """A section."""

        knob: int = Field(default=3, le=9, description="Turns | things.")

    class Root(BaseModel):
        """Root."""

        extra: Extra = Field(default_factory=Extra)

    assert "| `extra.knob` | integer (≤ 9) | `3` | Turns \\| things. |" in generate_reference(Root)


def test_write_then_check_round_trips(tmp_path: Path):
    (tmp_path / "config.md").write_text(f"{HEADING}\n\nstale\n", encoding="utf-8")
    assert reference_main(["--check", "--folder", str(tmp_path)]) == 1
    assert reference_main(["--write", "--folder", str(tmp_path)]) == 0
    assert reference_main(["--check", "--folder", str(tmp_path)]) == 0


def test_cli_subcommand_prints_the_reference(capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert main(["config-reference", "--log-level", "WARNING"]) == 0
    assert capsys.readouterr().out == generate_reference()

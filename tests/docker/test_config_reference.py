"""README's configuration reference is the one generated from the config model, and it covers the environment."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from shared.config import TripwireConfig
from tests.docker.stack import REPO_ROOT
from tripwire.cli import main
from tripwire.config_reference import (
    ENVIRONMENT_VARIABLES,
    HEADING,
    current_section,
    generate_reference,
    replace_section,
)
from tripwire.config_reference import main as reference_main

README = REPO_ROOT / "README.md"


def test_readme_section_equals_the_generated_reference():
    assert current_section(README.read_text(encoding="utf-8")) == generate_reference(), (
        "README.md's configuration reference is stale: run `make config-reference`"
    )


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


def test_replace_section_keeps_the_sections_around_it():
    readme = f"# T\n\n## Before\n\ntext\n\n{HEADING}\n\nold\n\n## After\n\nmore\n"
    new = replace_section(readme, f"{HEADING}\n\nnew\n")
    assert new == f"# T\n\n## Before\n\ntext\n\n{HEADING}\n\nnew\n\n## After\n\nmore\n"
    assert current_section(new) == f"{HEADING}\n\nnew\n"
    assert replace_section("# T\n", f"{HEADING}\n\nx\n") == f"# T\n\n{HEADING}\n\nx\n"


def test_write_then_check_round_trips(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\n{HEADING}\n\nstale\n", encoding="utf-8")
    assert reference_main(["--check", str(readme)]) == 1
    assert reference_main(["--write", str(readme)]) == 0
    assert reference_main(["--check", str(readme)]) == 0


def test_cli_subcommand_prints_the_reference(capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert main(["config-reference", "--log-level", "WARNING"]) == 0
    assert capsys.readouterr().out == generate_reference()

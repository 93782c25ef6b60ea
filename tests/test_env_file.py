""".env read as Docker Compose reads it, and a relative data_dir taken from the config file's directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from shared.config import load_config_file, load_settings
from shared.config.env_file import parse_env_text
from tests.conftest import REPO_ROOT
from tripwire.local_http import LocalServer, Reply

ENV_TEXT = """\
# Compose's syntax: comments, quotes, export, ${VAR} and ${VAR:-default}
export PLAIN=one
DOUBLE="two words"   # a comment after a quoted value
SINGLE='${PLAIN} stays as written'
EXPANDED=${PLAIN}-and-${MISSING:-fallback}
FROM_SHELL=${SHELL_ONLY}
EMPTY=
this line is not an assignment
SET_IN_BOTH=from-file
"""


def test_compose_syntax() -> None:
    found = parse_env_text(ENV_TEXT, Path(".env"), {"SHELL_ONLY": "shell", "SET_IN_BOTH": "from-env"})
    assert found.values == {
        "PLAIN": "one",
        "DOUBLE": "two words",
        "SINGLE": "${PLAIN} stays as written",
        "EXPANDED": "one-and-fallback",
        "FROM_SHELL": "shell",
        "EMPTY": "",
        "SET_IN_BOTH": "from-file",
    }
    assert found.unparsed_lines == [8]
    assert "two words" not in repr(found)  # values are secrets


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REDIS_URL=redis://from-file:1/0\nTRIPWIRE_CONSUMER=from-file\n")
    config = tmp_path / "tripwire.yaml"
    config.write_text("{}\n")
    settings = load_settings(
        str(config), environ={"TRIPWIRE_CONSUMER": "from-env"}, env_file=tmp_path / ".env"
    )  # fmt: skip
    assert settings.consumer_name == "from-env"
    assert settings.redis_url is not None and settings.redis_url.get_secret_value() == "redis://from-file:1/0"


def test_explicit_environment_reads_no_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TRIPWIRE_CONSUMER=from-file\n")
    config = tmp_path / "tripwire.yaml"
    config.write_text("{}\n")
    assert load_settings(str(config), environ={}, consumer_name=None).consumer_name != "from-file"


def test_relative_data_dir_is_taken_from_the_config_files_directory(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "relative.yaml").write_text("data_dir: .tripwire\n")
    (folder / "parent.yaml").write_text("data_dir: ../state/./data\n")
    (folder / "absolute.yaml").write_text(f"data_dir: {tmp_path / 'abs'}\n")
    (folder / "default.yaml").write_text("{}\n")
    assert load_config_file(folder / "relative.yaml", {}).data_dir == folder / ".tripwire"
    assert load_config_file(folder / "parent.yaml", {}).data_dir == tmp_path / "state" / "data"
    assert load_config_file(folder / "absolute.yaml", {}).data_dir == tmp_path / "abs"
    assert load_config_file(folder / "default.yaml", {}).data_dir == folder / ".tripwire"
    # The same file read from another working directory, by a relative path: the same data_dir.
    here = Path.cwd()
    try:
        os.chdir(tmp_path)
        assert load_config_file(Path("conf/relative.yaml"), {}).data_dir == folder / ".tripwire"
    finally:
        os.chdir(here)


def test_cli_reads_dotenv_in_the_working_directory_and_the_environment_wins(tmp_path: Path) -> None:
    """A subprocess as a user runs it: .env in cwd names the config and two URLs; one is also set in the shell."""
    receiver = LocalServer(lambda _request: Reply(204)).start()
    try:
        config = {
            "network": {"allow_private": ["127.0.0.0/8"]},
            "subscriptions": [
                {"name": "from-dotenv", "type": "webhook", "url": "${HOOK_URL:-}"},
                {"name": "from-shell", "type": "webhook", "url": "${OTHER_URL:-}"},
            ],
        }
        (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
        (tmp_path / ".env").write_text(
            "# as the README says: secrets in .env\n"
            "TRIPWIRE_CONFIG=mine.yaml\n"
            f'HOOK_URL="{receiver.url}/dotenv-secret-path"  # quoted, with a comment\n'
            f"OTHER_URL={receiver.url}/file-loses\n"
        )
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(REPO_ROOT),
            "OTHER_URL": f"{receiver.url}/shell-wins",
        }
        outputs = []
        for name in ("from-dotenv", "from-shell"):
            result = subprocess.run(
                [sys.executable, "-m", "tripwire", "test-alert", "--subscription", name, "--log-format", "json"],
                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout + result.stderr)
        assert [request.path for request in receiver.requests] == ["/dotenv-secret-path", "/shell-wins"]
        read = [json.loads(line) for line in outputs[1].splitlines() if '"env_file_read"' in line]
        assert len(read) == 1
        assert read[0]["path"] == str(tmp_path / ".env")
        assert read[0]["variables"] == "TRIPWIRE_CONFIG,HOOK_URL"
        assert read[0]["set_in_environment"] == "OTHER_URL"
        for output in outputs:
            assert "dotenv-secret-path" not in output and "file-loses" not in output  # names, never values
    finally:
        receiver.stop()

"""Any TripwireError ends a command with ONE line on stderr and exit code 2, never a traceback: one test per path
(bad config, bad usage, a bad input file, a refused request, a missing model or program, a bad document, a group of
errors from `run`'s tasks). Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.classifier.embedder import ModelError
from services.classifier.onnx_export import OnnxModelError
from services.poller.fetch import FeedFetchError
from services.poller.websub_client import HubError
from shared.errors import TripwireError
from shared.redis_server import RedisServerError
from shared.schemas.versioning import SchemaError
from tests.conftest import REPO_ROOT
from tripwire import cli, cli_config

MINIMAL = "feeds: []\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """``tripwire ARGS`` in this process: its exit code and its stderr lines."""
    code = cli.main(list(args))
    return code, capsys.readouterr().err.splitlines()


def config_file(tmp_path: Path, text: str = MINIMAL) -> str:
    path = tmp_path / "tripwire.yaml"
    path.write_text(text)
    return str(path)


def test_a_missing_config_file_is_one_line_and_exit_2_from_the_real_command(tmp_path: Path):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT)}
    missing = tmp_path / "nowhere.yaml"
    result = subprocess.run([sys.executable, "-m", "tripwire", "feeds", "--config", str(missing)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"tripwire: error: {missing}: config file not found; pass --config PATH or set TRIPWIRE_CONFIG"
    ]


def test_several_config_problems_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = config_file(tmp_path, "poller:\n  default_interval: soon\nnotifier:\n  concurrency: 0\n")
    code, err = run(capsys, "config-reference", "--config", path)
    assert code == 2 and len(err) == 1
    assert "poller.default_interval: 'soon' is not valid" in err[0] and "; " in err[0]
    assert "notifier.concurrency" in err[0]


def test_a_usage_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "set.jsonl"
    data.write_text("")
    code, err = run(capsys, "eval", "--data", str(data), "--min-precision", "5", "--config", config_file(tmp_path))
    assert (code, err) == (2, ["tripwire: error: --min-precision: 5.0 is not between 0 and 1; give e.g. 0.9"])


def test_a_bad_input_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    opml = tmp_path / "list.opml"
    opml.write_text("<opml><body><outline")
    code, err = run(capsys, "feeds", "import", str(opml), "--config", config_file(tmp_path))
    assert code == 2 and len(err) == 1 and err[0].startswith(f"tripwire: error: {opml}: ")


def test_a_refused_request_is_one_line_naming_the_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # The outbound guard refuses before connecting: no traffic leaves for 10.0.0.5.
    code, err = run(capsys, "score", "--url", "http://10.0.0.5/news", "--config", config_file(tmp_path))
    assert code == 2 and len(err) == 1
    assert "10.0.0.5 is a private address; allow it with network.allow_private: [10.0.0.0/8]" in err[0]


@pytest.mark.parametrize(
    "error",
    [
        ModelError("classifier.backend: torch needs sentence-transformers; install them with pip install '.[torch]'"),
        OnnxModelError("model.onnx is missing; build it with `tripwire model build`"),
        RedisServerError("redis-server did not start; see .tripwire/redis/redis.log"),
        FeedFetchError("https://example.org/feed: HTTP 500", reason="http_500"),
        HubError("hub https://hub.example/ refused the subscription: HTTP 403"),
        SchemaError("entry 1-0 of tripwire:alerts: missing field 'topic'"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_branch_of_the_tree_is_one_line(
    error: TripwireError, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    async def failing(*_args: object) -> None:
        raise error

    monkeypatch.setattr(cli_config, "_config_reference", failing)
    assert run(capsys, "config-reference", "--config", config_file(tmp_path)) == (2, [f"tripwire: error: {error}"])


def test_a_group_of_tripwire_errors_from_tasks_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    async def failing(*_args: object) -> None:
        first = RedisServerError("redis-server did not start")
        raise ExceptionGroup("tasks", [first, ExceptionGroup("inner", [HubError("hub down")])])

    monkeypatch.setattr(cli_config, "_config_reference", failing)
    code, err = run(capsys, "config-reference", "--config", config_file(tmp_path))
    assert (code, err) == (2, ["tripwire: error: redis-server did not start (and 1 more error)"])


def test_a_bug_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async def failing(*_args: object) -> None:
        raise ExceptionGroup("tasks", [HubError("hub down"), KeyError("bug")])

    monkeypatch.setattr(cli_config, "_config_reference", failing)
    with pytest.raises(ExceptionGroup):
        cli.main(["config-reference", "--config", config_file(tmp_path)])

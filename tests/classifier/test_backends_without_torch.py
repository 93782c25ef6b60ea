"""The onnx backends where the torch extra is not installed, as after `pip install .`: score, eval and the classifier
run from a cached ONNX file without trying to import torch; a missing or corrupt file is built from the packaged
weights without torch, never used; the torch backend stops with one clear line that says what to do.

Each command runs in its own process with tests/without_torch on PYTHONPATH, whose sitecustomize makes torch,
sentence-transformers and transformers unimportable and reports every attempt on stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.classifier.embedder import TORCH_EXTRA
from services.classifier.onnx_export import OnnxModel
from shared.redis_server import RedisServer
from shared.schemas import FeedRef, Item
from shared.streams import DATA_FIELD, StreamNames
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.model
WITHOUT_TORCH = REPO_ROOT / "tests" / "without_torch"
BLOCKED_MARK = "without_torch: blocked import of"
STANDOFF = "US and Russian military convoys block each other near Qamishli"


def tripwire_without_torch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m tripwire ARGS`` in a process where the torch extra cannot be imported."""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": f"{WITHOUT_TORCH}{os.pathsep}{REPO_ROOT}",
        **(env or {}),
    }
    argv = [sys.executable, "-m", "tripwire", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=environ, cwd=REPO_ROOT, timeout=240, check=False)


def config_file(folder: Path, **classifier: Any) -> Path:
    """The shipped config with some ``classifier`` settings replaced, written into ``folder``."""
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"))
    data["classifier"] = {**(data.get("classifier") or {}), **{k: str(v) for k, v in classifier.items()}}
    path = folder / "tripwire.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def copied_cache(embedder: Any, into: Path) -> Path:
    """A model cache holding a copy of the default backend's checked file (the session fixture built it)."""
    model: OnnxModel = embedder.model
    shutil.copytree(model.path.parent, into / model.path.parent.name)
    return into


def test_the_blocker_hides_torch_from_a_child_process() -> None:
    probe = "import importlib.util as u, sys; print(u.find_spec('onnxruntime') is not None); import torch"
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(WITHOUT_TORCH)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environ, check=False)
    assert result.returncode == 1 and result.stdout.strip() == "True"
    assert "ModuleNotFoundError: No module named 'torch'" in result.stderr
    assert f"{BLOCKED_MARK} torch" in result.stderr


def test_score_and_eval_run_on_the_onnx_backend_with_torch_blocked(embedder: Any, tmp_path: Path) -> None:
    config = config_file(tmp_path, model_cache=copied_cache(embedder, tmp_path / "cache"))
    scored = tripwire_without_torch("score", STANDOFF, "--config", str(config))
    assert scored.returncode == 0, scored.stderr
    assert BLOCKED_MARK not in scored.stderr
    assert any(
        line.startswith("us_russia_standoff:") and line.endswith("-> ALERT") for line in scored.stdout.split("\n")
    )

    data = REPO_ROOT / "data" / "eval" / "topics.jsonl"
    plot = tmp_path / "pr.png"
    evaluated = tripwire_without_torch(
        "eval", "--data", str(data), "--json", "--plot", str(plot), "--config", str(config)
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert BLOCKED_MARK not in evaluated.stderr
    assert json.loads(evaluated.stdout)["topics"]["us_russia_standoff"]["f1"] > 0.9
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_the_classifier_service_runs_on_the_onnx_backend_with_torch_blocked(
    embedder: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    config = config_file(tmp_path, model_cache=copied_cache(embedder, tmp_path / "cache"))
    names = StreamNames()
    item = Item(id="s1", feed=FeedRef(url="http://127.0.0.1/f"), fetched_at=datetime.now(UTC), title=STANDOFF)
    with redis_server.client() as client:
        client.flushdb()
        client.xadd(names.items, {DATA_FIELD: item.to_json()})
        drained = tripwire_without_torch(
            "classifier", "--drain", "--config", str(config), "--consumer", "c1", env={"REDIS_URL": redis_server.url}
        )
        alerts = client.xrange(names.alerts)
        client.flushdb()
    assert drained.returncode == 0, drained.stderr
    assert BLOCKED_MARK not in drained.stderr
    assert [json.loads(fields[DATA_FIELD.encode()])["topic"] for _id, fields in alerts] == ["us_russia_standoff"]


@pytest.mark.slow
def test_without_torch_a_missing_onnx_file_is_built_from_the_packaged_weights(tmp_path: Path) -> None:
    cache = tmp_path / "empty-cache"
    result = tripwire_without_torch("score", STANDOFF, "--config", str(config_file(tmp_path, model_cache=cache)))
    assert result.returncode == 0, result.stderr
    assert BLOCKED_MARK not in result.stderr  # built with onnx alone: torch was never even tried
    assert "us_russia_standoff" in result.stdout
    [built] = cache.glob("model-int8-*/model.onnx")
    assert json.loads((built.parent / "manifest.json").read_text())["versions"].keys() == {"onnx", "onnxruntime"}


@pytest.mark.slow
def test_without_torch_a_corrupt_onnx_file_is_rebuilt_not_used(embedder: Any, tmp_path: Path) -> None:
    cache = copied_cache(embedder, tmp_path / "cache")
    [onnx_file] = cache.glob("*/model.onnx")
    good = onnx_file.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    result = tripwire_without_torch("score", STANDOFF, "--config", str(config_file(tmp_path, model_cache=cache)))
    assert result.returncode == 0, result.stderr
    assert "onnx_cache_corrupt" in result.stderr and BLOCKED_MARK not in result.stderr
    assert onnx_file.read_bytes() == good  # the build is deterministic: the same file as the session fixture's


def test_without_torch_the_torch_backend_says_which_extra_to_install(tmp_path: Path) -> None:
    result = tripwire_without_torch("score", STANDOFF, "--config", str(config_file(tmp_path, backend="torch")))
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "tripwire: error: classifier.backend: torch needs sentence-transformers and torch" in result.stderr
    assert TORCH_EXTRA in result.stderr and "classifier.backend: onnx" in result.stderr

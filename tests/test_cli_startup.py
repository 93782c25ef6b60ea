"""The command line starts quickly because building the parser imports no service, model, web or Redis code: the
subcommands import what they use when they run. Not timed (bench/cli_startup.py measures it); this test fails the
day a module-level import in tripwire/cli*.py pulls one of them back in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

# Top-level packages (and project packages) that `tripwire --help` must not import: the model runtimes, numpy, the
# web console, the config models, Redis and HTTP clients, and every service.
HEAVY = (
    "onnxruntime", "numpy", "torch", "transformers", "sentence_transformers", "tokenizers", "matplotlib",
    "starlette", "uvicorn", "pydantic", "yaml", "redis", "httpx", "feedparser", "apscheduler", "aiosmtplib",
    "prometheus_client", "asyncio", "services", "tripwire.console", "tripwire.runtime", "tripwire.commands",
    "shared.config",
)  # fmt: skip


def heavy_in(modules: list[str]) -> list[str]:
    return sorted({m for m in modules for heavy in HEAVY if m == heavy or m.startswith(f"{heavy}.")})


def test_building_the_parser_imports_no_heavy_module():
    probe = "import sys\nfrom tripwire.cli import build_parser\nbuild_parser()\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert heavy_in(out.stdout.split()) == []


@pytest.mark.parametrize("command", [[], ["feeds"], ["dlq"], ["dlq", "list"], ["stories"], ["score"], ["run"]])
def test_help_imports_no_heavy_module(command: list[str]):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tripwire", *command, "--help"],
                            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60)  # fmt: skip
    assert result.returncode == 0 and "usage: tripwire" in result.stdout
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "tripwire.cli" in imported
    assert heavy_in(imported) == []


def test_the_model_backends_written_in_the_parser_are_the_configs():
    from typing import get_args

    from shared.config.topics import BackendName
    from tripwire.cli_model import BACKENDS

    assert get_args(BackendName) == BACKENDS

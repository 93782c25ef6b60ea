"""``tripwire run`` (and other commands) started as a user starts them: a subprocess, its JSON log in a file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.conftest import REPO_ROOT


def clean_copy(destination: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, nothing ignored: no .tripwire, no .env)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def user_env(code: Path, **extra: str) -> dict[str, str]:
    """A user's environment: PATH and nothing of Tripwire's (no REDIS_URL), running the code in ``code``."""
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1", **extra}


def tripwire(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one ``tripwire`` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "tripwire", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=180
    )


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def healthz(port: int) -> tuple[int | None, dict[str, Any]]:
    """(status, body) of /healthz on ``port``; (None, {}) when nothing answers."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.HTTPError:
        return None, {}
    return response.status_code, response.json()


class RunProcess:
    """``python -m tripwire run`` with its log (JSON lines) in a file, so a long run never blocks on a full pipe."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.log_path = cwd / "run.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tripwire", "run", "--log-format", "json", *args],
                cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines so far (those of event ``name`` only, if given)."""
        docs = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                doc = json.loads(line)
                if name is None or doc.get("event") == name:
                    docs.append(doc)
        return docs

    def log_text(self) -> str:
        """The whole log, for assertion messages."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def redis_children(self) -> list[psutil.Process]:
        """The redis-server processes ``run`` started, zombies included."""
        return [child for child in psutil.Process(self.process.pid).children() if "redis-server" in child.name()]

    @property
    def alive(self) -> bool:
        """True while ``run`` runs."""
        return self.process.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as systemd or Ctrl-C would; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Test teardown: make sure nothing is left running."""
        if self.alive:
            self.process.kill()
            self.process.wait(timeout=30)

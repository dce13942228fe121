"""A private ``redis-server`` per test, so a test can kill the broker without touching the
shared Redis (or other tests running in parallel)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import redis

from tests.adapters.helpers import restartable_port, wait_until


class PrivateRedis:
    """One ``redis-server`` subprocess on a fixed port; ``stop()``/``start()`` keep the port,
    so clients configured with ``url`` reconnect to the same address after an outage."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str = "redis-server"):
        resolved = shutil.which(binary)
        if resolved is None:
            raise FileNotFoundError(f"{binary} is not on PATH")
        self.binary = resolved
        self.workdir = workdir
        self.port = port or restartable_port()  # restarted on the same port
        self.log_path = workdir / f"redis-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self) -> redis.Redis:
        """A redis-py client that fails fast instead of hanging while the server is down."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def ping(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    def start(self, timeout: float = 10) -> PrivateRedis:
        """Start (again) on the same port and return once it answers PING."""
        if self.running:
            return self
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
        ]
        with self.log_path.open("ab") as log:
            proc = self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            wait_until(
                lambda: proc.poll() is not None or self.ping(),
                timeout=timeout,
                interval=0.05,
                message=f"redis-server on port {self.port}",
            )
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log_path.read_text(errors='replace')}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill it (SIGKILL, like a crash) and reap it: the port refuses connections afterwards."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=10)

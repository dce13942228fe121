"""Running the LRS (with the floor view beside it) under gunicorn on a free loopback port."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.django_env import SETTINGS_MODULE

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServerConfig:
    workers: int = 2
    threads: int = 4

    @property
    def description(self) -> str:
        return f"gunicorn config.wsgi, {self.workers} workers x {self.threads} threads (gthread), keep-alive"


def die_with_parent() -> None:
    """Run in a child before exec: SIGTERM it if the bench process dies, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def production_environ(database_url: str) -> dict[str, str]:
    """Production mode, DEBUG off, a fresh secret key, only the loopback host allowed."""
    return {
        **os.environ,
        "LRS_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "",  # as LOG_LEVEL: no line per request (the floor view pays none)
    }


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before answering")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/xapi/about", headers={"X-Experience-API-Version": "1.0.3"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {HOST}:{port} within {timeout:.0f}s")


@contextmanager
def gunicorn(
    database_url: str, config: ServerConfig, log_path: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[int]:
    """Start gunicorn, yield its port once it answers, stop it (by its pid) afterwards.

    ``extra_env`` is added to the production environment (the fan-out bench passes the broker).
    """
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        # The production settings file (its hooks: metrics directory, gc.freeze), as the image runs
        # it; the flags below override its bind, worker class, worker and thread counts.
        "--config", "python:config.gunicorn",
        "--bind", f"{HOST}:{port}",
        "--worker-class", "gthread",
        "--workers", str(config.workers),
        "--threads", str(config.threads),
        "--keep-alive", "60",
        "--backlog", "256",
        "--log-level", "warning",
    ]  # fmt: skip
    environ = {**production_environ(database_url), **(extra_env or {})}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        try:
            _wait_ready(port, process)
            yield port
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

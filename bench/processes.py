"""The fan-out bench's helper processes: a private redis-server, webhook receivers, a Celery worker.

Each one runs in its own session (process group) with its output in a log file, is
started by a context manager and stopped (SIGTERM to the group, then SIGKILL) when the
``with`` block ends, whatever happened inside it. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.server import HOST, ROOT, die_with_parent, free_port


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the process group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    pgid = process.pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)  # pool children that outlived their parent, or a stuck parent
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    deadline = time.monotonic() + 5
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextmanager
def spawned(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None, grace: float = 15.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` in its own session, output appended to ``log_path``; always stopped at exit."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=dict(env or os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    try:
        yield process
    finally:
        stop_process(process, grace)


def _alive(process: subprocess.Popen[bytes], log_path: Path, name: str) -> None:
    if process.poll() is not None:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")


@contextmanager
def private_redis(log_dir: Path) -> Iterator[str]:
    """A redis-server of the bench's own on a free loopback port (no persistence); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench --fanout: redis-server is not on PATH")
    port = free_port()
    log_path = log_dir / "fanout-redis.log"
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            workdir,
        ]
        with spawned(argv, log_path, grace=5.0) as process:

            def ready() -> bool:
                _alive(process, log_path, "redis-server")
                return port_accepts(port)

            wait_for(ready, 15.0, f"redis-server on port {port}")
            yield f"redis://{HOST}:{port}/0"


@contextmanager
def webhook_receiver(env: Mapping[str, str], out_path: Path, log_dir: Path) -> Iterator[str]:
    """``bench/fanout_receiver.py`` (the tests' webhook server, answering 200) on a free port;
    yields the hook URL. One JSON line per request goes to ``out_path``."""
    port = free_port()
    log_path = log_dir / "fanout-receiver.log"
    argv = [sys.executable, "-m", "bench.fanout_receiver", "--port", str(port), "--out", str(out_path)]
    with spawned(argv, log_path, env, grace=10.0) as process:

        def ready() -> bool:
            _alive(process, log_path, "the webhook receiver")
            return port_accepts(port)

        wait_for(ready, 30.0, f"the webhook receiver on port {port}")
        yield f"http://{HOST}:{port}/hook"


def refusing_url() -> str:
    """A hook URL on a loopback port where nothing listens (connections are refused)."""
    for _ in range(20):
        port = free_port()
        if not port_accepts(port):
            return f"http://{HOST}:{port}/hook"
    raise RuntimeError("could not find a loopback port that refuses connections")


@dataclass(frozen=True)
class WorkerSpec:
    pool: str = "prefork"
    concurrency: int = 1
    settings: str = ""  # another DJANGO_SETTINGS_MODULE for the worker (a bench what-if), or the default

    @property
    def label(self) -> str:
        suffix = f"-{self.settings.rsplit('_', 1)[-1]}" if self.settings else ""
        return f"{self.pool}-{self.concurrency}{suffix}"

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "-Q",
            "celery",
            "-n",
            f"bench-fanout-{self.label}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]


@dataclass
class RunningWorker:
    spec: WorkerSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int
    started: float  # time.perf_counter() when the process was spawned
    ready: float | None = None

    def check_ready(self) -> bool:
        """True once the worker logged ``ready.``; raises if it died."""
        _alive(self.process, self.log_path, "the Celery worker")
        if self.ready is None:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                if b" ready." in log.read():
                    self.ready = time.perf_counter()
        return self.ready is not None


@contextmanager
def celery_worker(spec: WorkerSpec, env: Mapping[str, str], log_dir: Path) -> Iterator[RunningWorker]:
    """``celery -A config worker`` with ``spec``; yields at once (the caller times the start-up)."""
    log_path = log_dir / f"fanout-celery-{spec.label}.log"
    with log_path.open("ab") as log:
        log.write(f"\n==== worker {spec.label} started {time.strftime('%H:%M:%S')} ====\n".encode())
        offset = log.tell()
    started = time.perf_counter()
    if spec.settings:
        env = {**env, "DJANGO_SETTINGS_MODULE": spec.settings}
    with spawned(spec.command, log_path, env, grace=20.0) as process:
        yield RunningWorker(spec, process, log_path, offset, started)

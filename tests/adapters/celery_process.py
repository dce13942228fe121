"""A real Celery worker in a subprocess, for tests that must survive worker crashes.

In-process/eager Celery cannot show what happens when a worker dies mid-task (acks_late,
redelivery, half-done deliveries); a subprocess in its own session can be SIGKILLed as a
whole (main process and prefork children) exactly like an OOM kill or a node loss.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.adapters.helpers import live_group_members, wait_until

WORKER_ARGS = (
    "-m",
    "celery",
    "-A",
    "config",
    "worker",
    "--loglevel",
    "INFO",
    "--concurrency",
    "1",
    "--pool",
    "prefork",
    "-Q",
    "celery",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
)


class CeleryWorker:
    """Handle on one worker subprocess; ``restart()`` starts a fresh process with the same
    command line, environment and log file (appended, with a marker line)."""

    def __init__(
        self,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
    ):
        self.argv = [sys.executable, *WORKER_ARGS, *extra_args]
        self.env, self.cwd, self.log_path, self.ready_timeout = dict(env), cwd, log_path, ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Pid of the worker's main process (also its process-group id)."""
        if self._proc is None:
            raise RuntimeError("the worker is not started")
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> CeleryWorker:
        """Start and return once the log says ``ready.`` (the worker consumes from then on)."""
        with self.log_path.open("ab") as log:
            log.write(f"\n==== starting worker at {time.strftime('%H:%M:%S')} ====\n".encode())
            offset = log.tell()
            proc = self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_until(
                lambda: proc.poll() is not None or " ready." in self.log_text()[offset:],
                timeout=self.ready_timeout,
                interval=0.1,
                message="the Celery worker to log 'ready.'",
            )
            if proc.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {proc.returncode}:\n{self.log_text()}")
        except BaseException:
            self.kill()
            raise
        return self

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
        """Send ``sig`` to the whole process group (main process and pool children).

        With SIGKILL (the default) also wait until every member is gone, so the test sees a
        dead worker immediately afterwards.
        """
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)
        if sig == signal.SIGKILL:
            self._proc.wait(timeout)
            wait_until(
                lambda: not live_group_members(self.pid),
                timeout=timeout,
                interval=0.05,
                message=f"process group {self.pid} to exit",
            )

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM to the main process: it finishes the running task), then
        SIGKILL whatever is left of the group after ``timeout``."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)
        self.kill(signal.SIGKILL)

    def restart(self) -> CeleryWorker:
        self.stop()
        return self.start()


def ping_workers(broker_url: str, timeout: float = 1.0) -> list[str]:
    """Node names of the workers answering a broadcast ping on ``broker_url``.

    Uses a throwaway app (not the project's, which runs eagerly in the test process) that is
    not made current, so ``shared_task`` proxies in the test process stay bound to ours.
    """
    from celery import Celery

    probe = Celery("lrs-test-probe", broker=broker_url, set_as_current=False)
    try:
        return [name for reply in probe.control.ping(timeout=timeout) for name in reply]
    finally:
        probe.close()


def send_builtin_task(broker_url: str) -> str:
    """Publish Celery's built-in ``celery.accumulate`` to the ``celery`` queue; its id shows up
    in the worker log as ``Task celery.accumulate[<id>] succeeded`` once a worker ran it."""
    from celery import Celery

    probe = Celery("lrs-test-probe", broker=broker_url, set_as_current=False)
    try:
        return str(probe.send_task("celery.accumulate", args=(1, 2), queue="celery").id)
    finally:
        probe.close()

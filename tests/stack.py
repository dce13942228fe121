"""The LRS as it runs in production, on a database of the test's own: a private PostgreSQL
(tests/adapters/postgres_process.py), migrated, and gunicorn serving the production settings, so a
test can stop and restart the database under a real web server (and real Celery workers pointed
at the same database through ``Stack.env``)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.adapters.helpers import restartable_port, wait_until
from tests.adapters.postgres_process import PrivatePostgres

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "stack-lms", "stack-lms-secret-0123456789"


@dataclass
class Stack:
    workdir: Path
    broker_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    database: PrivatePostgres | None = None
    port: int = 0
    _web: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a process of this deployment (web, worker) runs with."""
        assert self.database is not None
        return {
            **os.environ,
            "LRS_ENV": "production",
            "SECRET_KEY": "stack-test-secret-key-0123456789-abcdefghij",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.database.url("lrs"),
            "CELERY_BROKER_URL": self.broker_url,
            "PYTHONUNBUFFERED": "1",
            "STATIC_ROOT": str(self.workdir / "static"),
            # Production's idle CPU priority would let pytest's own processes starve these workers.
            "LRS_WORKER_CPU_PRIORITY": "normal",
            **self.extra_env,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> Stack:
        self.database = PrivatePostgres(self.workdir).init().start()
        self.database.create_database("lrs")
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")  # as the Dockerfile does
        # identity/write by name (all does not include it): tests call the identity API with it too.
        scopes = "all,identity/write"
        self.manage("create_credential", "lms", "--scopes", scopes, "--key", KEY, "--secret", SECRET)
        self.start_web()
        return self

    def start_web(self) -> None:
        self.port = self.port or restartable_port()  # a restart binds it again
        log = (self.workdir / "gunicorn.log").open("ab")
        self._web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:config.gunicorn",  # as the Dockerfile runs it (the metrics directory)
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                self.extra_env.get("GUNICORN_WORKERS", "1"),
                "--threads",
                "4",
                "--timeout",
                "30",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._answers, timeout=30, interval=0.1, message="gunicorn answering")

    def _answers(self) -> bool:
        if self._web is not None and self._web.poll() is not None:
            raise RuntimeError((self.workdir / "gunicorn.log").read_text(errors="replace"))
        try:
            return requests.get(f"{self.url}/xapi/about", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or still booting under load
            return False

    def post_statements(self, statements: list[dict], timeout: float = 10) -> requests.Response:
        auth = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        return requests.post(
            f"{self.url}/xapi/statements",
            json=statements,
            headers={"Authorization": f"Basic {auth}", "X-Experience-API-Version": "1.0.3"},
            timeout=timeout,
        )

    def stop(self) -> None:
        web, self._web = self._web, None
        if web is not None and web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            try:
                web.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(web.pid, signal.SIGKILL)
                web.wait(timeout=5)
        if self.database is not None:
            self.database.remove()

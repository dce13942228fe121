"""docker-compose.yml and the Dockerfile: one image built once for every role, a one-shot migrate
the others wait for, healthchecks that probe something real (each run here against a real web
server, Celery worker and beat), restart policies, and secrets (the LRS's and the targets') that
come from files and reach web and worker alike. `docker compose config -q` where Compose exists."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery.beat import Scheduler

from tests.adapters.helpers import wait_until
from tests.adapters.redis_process import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
LRS = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
BIN = Path(sys.executable).parent  # celery, gunicorn: the venv's, as the image's are on its PATH


def healthcheck(service: str) -> list[str]:
    """The healthcheck's argv as the container runs it: compose turns ``$$`` into ``$``."""
    test = SERVICES[service]["healthcheck"]["test"]
    kind, *rest = [test] if isinstance(test, str) else test
    argv = ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest
    return [part.replace("$$", "$") for part in argv]


def run_probe(argv: list[str], env: dict[str, str], timeout: float = 30) -> int:
    path = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(argv, env={**env, "PATH": path}, capture_output=True, timeout=timeout).returncode


def dockerfile_instruction(name: str) -> list[str]:
    """Every ``name`` instruction of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if line.startswith(f"{name} ")]


def test_one_image_is_built_once_and_every_lrs_service_runs_it_without_pulling():
    built = [name for name, service in SERVICES.items() if "build" in service]
    assert built == ["migrate"]
    image = SERVICES["migrate"]["image"]
    assert {SERVICES[name]["image"] for name in LRS} == {image}
    # Compose must build the image, never look for it in a registry, and never build it twice.
    assert SERVICES["migrate"]["pull_policy"] == "build"
    assert all(SERVICES[name]["pull_policy"] == "never" for name in LRS if name != "migrate")
    assert all(SERVICES[name]["depends_on"]["migrate"] for name in LRS if name != "migrate")
    assert len(dockerfile_instruction("FROM")) == 1


def test_migrate_runs_once_and_web_worker_and_beat_start_only_after_it_succeeded():
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
        assert "migrate" not in json.dumps(SERVICES[name]["command"]), name


def test_every_long_running_service_has_a_healthcheck_and_restarts_unless_stopped():
    for name in LONG_RUNNING:
        assert SERVICES[name]["restart"] == "unless-stopped", name
        assert healthcheck(name), name
    assert "pg_isready" in healthcheck("postgres")[-1] and healthcheck("redis") == ["redis-cli", "ping"]


def test_the_web_command_is_the_images_cmd_and_every_command_runs_a_program_the_image_installs():
    (cmd,) = dockerfile_instruction("CMD")
    assert SERVICES["web"]["command"] == json.loads(cmd.removeprefix("CMD "))
    assert not dockerfile_instruction("ENTRYPOINT")  # compose commands run as written
    config = SERVICES["web"]["command"][SERVICES["web"]["command"].index("-c") + 1]
    assert (ROOT / (config.removeprefix("python:").replace(".", "/") + ".py")).is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {re.split(r"[<>=\[ ]", requirement)[0] for requirement in project["dependencies"]}
    for name in LRS:
        program = SERVICES[name]["command"][0]
        assert program == "python" or program in installed, (name, program)
    assert any("manage.py collectstatic --noinput" in line for line in dockerfile_instruction("RUN"))
    assert SERVICES["web"]["ports"] == ["8000:8000"]


def test_web_and_worker_get_the_targets_env_file_and_the_same_secrets_and_environment():
    web, worker = SERVICES["web"], SERVICES["worker"]
    assert web["env_file"] == worker["env_file"] == [{"path": "./secrets/targets.env", "required": False}]
    assert web["secrets"] == worker["secrets"]
    # The same settings, but for the port of the worker's own metrics page.
    settings = {
        name: value for name, value in worker["environment"].items() if name != "LRS_WORKER_METRICS_PORT"
    }
    assert web["environment"] == settings
    # Beat and migrate send nothing to a target: they do not get the targets' secrets.
    assert "env_file" not in SERVICES["beat"] and "env_file" not in SERVICES["migrate"]
    # The env file and the secret files sit where git and the build context never take them.
    for ignore in (".gitignore", ".dockerignore"):
        assert "secrets" in [line.strip().strip("/") for line in (ROOT / ignore).read_text().splitlines()]


def test_the_metrics_token_and_every_file_secret_are_mounted_where_their_variable_points():
    for name in ("web", "worker"):
        assert SERVICES[name]["environment"]["LRS_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    assert COMPOSE["secrets"]["metrics_token"] == {"file": "./secrets/metrics_token.txt"}
    port = SERVICES["worker"]["environment"]["LRS_WORKER_METRICS_PORT"]
    assert SERVICES["worker"]["expose"] == [port]  # the worker's page, behind the same token
    # A <NAME>_FILE naming a missing file stops start-up (config/env.py): each must be mounted.
    for name in LRS:
        for variable, value in SERVICES[name]["environment"].items():
            if variable.endswith("_FILE"):
                assert value.removeprefix("/run/secrets/") in SERVICES[name]["secrets"], (name, variable)


def test_no_secret_value_is_written_in_the_compose_file():
    secretive = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|API_KEY|PRIVATE", re.IGNORECASE)
    for name, service in SERVICES.items():
        for variable in service.get("environment") or {}:
            assert not secretive.search(variable) or variable.endswith("_FILE"), (name, variable)
    for secret in COMPOSE["secrets"].values():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/")
    header = (ROOT / "docker-compose.yml").read_text().split("\nx-", 1)[0]
    for secret in COMPOSE["secrets"].values():
        assert f"> {secret['file'].removeprefix('./')}" in header  # says how to create it
    assert "secrets/targets.env" in header


def test_docker_ignores_what_must_not_enter_the_build_context():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "secrets", "*.sqlite3", "bench/results", "*.env"} <= ignored


def compose_command() -> list[str] | None:
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]):
            version = subprocess.run([*argv, "version"], capture_output=True, text=True)
            if version.returncode == 0 and "v1." not in version.stdout:
                return argv
    return None


COMPOSE_CLI = compose_command()


@pytest.mark.skipif(COMPOSE_CLI is None, reason="no Docker Compose v2 (`docker compose` or `docker-compose`)")
def test_docker_compose_accepts_the_file():
    argv = COMPOSE_CLI
    assert argv is not None
    done = subprocess.run([*argv, "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def test_the_web_healthcheck_passes_on_a_ready_server_and_fails_when_its_database_is_down(private_stack):
    # The first allowed host is not localhost: the probe must still get past ALLOWED_HOSTS.
    stack = private_stack(ALLOWED_HOSTS="lrs.example.com,127.0.0.1,localhost")
    probe = healthcheck("web")
    assert sum(part.count("http://127.0.0.1:8000/readyz") for part in probe) == 1
    probe = [part.replace("127.0.0.1:8000", f"127.0.0.1:{stack.port}") for part in probe]
    # Retried as Docker retries it: a first /readyz (the migration graph loads) can be slow here.
    wait_until(lambda: run_probe(probe, stack.env) == 0, timeout=60, interval=1, message="web healthy")
    stack.database.stop()
    try:
        assert run_probe(probe, stack.env) != 0
    finally:
        stack.database.start()


def celery_env(tmp_path: Path, broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "LRS_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lrs.sqlite3'}",
        "CELERY_BROKER_URL": broker,
        "HOSTNAME": socket.gethostname(),  # as in a container: its hostname, the worker's node name
        "LRS_WORKER_CPU_PRIORITY": "normal",
    }


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / argv[0]), *argv[1:]], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_the_worker_healthcheck_pings_the_worker_of_its_own_container(tmp_path):
    broker = PrivateRedis(tmp_path).start()
    env = celery_env(tmp_path, broker.url)
    probe = healthcheck("worker")
    assert "celery@$HOSTNAME" in probe[-1] and "-n" not in SERVICES["worker"]["command"]
    worker = start([*SERVICES["worker"]["command"], "--concurrency", "1"], env, tmp_path / "worker.log")
    try:
        wait_until(lambda: run_probe(probe, env) == 0, timeout=60, interval=1, message="the worker answering")
        stop(worker)
        assert run_probe(probe, env) != 0  # no reply within the probe's own --timeout
    finally:
        stop(worker)
        broker.stop()


def test_the_beat_healthcheck_watches_the_schedule_file_beat_writes_and_fails_once_it_is_stale(tmp_path):
    command = SERVICES["beat"]["command"]
    schedule = command[command.index("--schedule") + 1]
    probe = healthcheck("beat")
    assert f'glob.glob("{schedule}*")' in probe[-1]
    # Honest threshold: Celery writes the file at least every sync_every seconds plus one loop.
    threshold = int(re.search(r"min\(ages\) < (\d+)", probe[-1]).group(1))  # type: ignore[union-attr]
    max_interval = int(command[command.index("--max-interval") + 1])
    assert Scheduler.sync_every + max_interval < threshold
    private = str(tmp_path / "celerybeat-schedule")
    local = [part.replace(schedule, private) for part in probe]
    broker = PrivateRedis(tmp_path).start()
    env = celery_env(tmp_path, broker.url)
    assert run_probe(local, env) != 0  # beat has not started: no schedule file

    beat = start([part.replace(schedule, private) for part in command], env, tmp_path / "beat.log")
    try:
        wait_until(lambda: run_probe(local, env) == 0, timeout=30, interval=0.5, message="beat's schedule")
    finally:
        stop(beat)
        broker.stop()
    stale = time.time() - threshold - 1
    for path in tmp_path.glob("celerybeat-schedule*"):
        os.utime(path, (stale, stale))
    assert run_probe(local, env) != 0

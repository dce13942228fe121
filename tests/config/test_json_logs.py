"""LOG_FORMAT=json: one JSON object per line with time, level, logger, message, request id and the
record's extra fields, from the web processes and from Celery workers alike; plain text stays the
default; one request line per HTTP request, without the query string."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import correlation
from adapters.correlation import CorrelationIdFilter
from config.logs import JsonLineFormatter
from tests.adapters.celery_process import CeleryWorker, send_builtin_task
from tests.adapters.helpers import wait_until
from tests.adapters.redis_process import PrivateRedis
from tests.conftest import make_statement

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["time", "level", "logger", "message", "request_id"]


def json_handler(stream: io.StringIO) -> logging.Handler:
    """A handler as settings.LOGGING builds it with LOG_FORMAT=json."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(CorrelationIdFilter())
    return handler


def parsed(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def demo_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger(f"demo.{uuid.uuid4().hex}")
    logger.addHandler(json_handler(stream))
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.handlers.clear()


def test_a_json_line_has_the_listed_keys_then_the_records_extra_fields(demo_log):
    logger, stream = demo_log
    with correlation.bound("req-42"):
        logger.info(
            "attempt %s to %s",
            2,
            "pms",
            extra={"target": "pms", "delivery_id": 7, "attempt": 2, "outcome": "retrying"},
        )
    [line] = parsed(stream.getvalue())
    assert list(line) == [*KEYS, "target", "delivery_id", "attempt", "outcome"]
    assert line["level"] == "INFO" and line["logger"] == logger.name
    assert line["message"] == "attempt 2 to pms" and line["request_id"] == "req-42"
    assert (line["target"], line["delivery_id"], line["attempt"], line["outcome"]) == (
        "pms",
        7,
        2,
        "retrying",
    )


def test_the_time_is_iso_8601_in_utc(demo_log):
    logger, stream = demo_log
    logger.warning("now")
    [line] = parsed(stream.getvalue())
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)


def test_outside_a_request_the_request_id_is_null(demo_log):
    logger, stream = demo_log
    logger.debug("no request")
    [line] = parsed(stream.getvalue())
    assert line["request_id"] is None and line["level"] == "DEBUG"


def test_an_exception_is_one_line_with_its_traceback_as_the_exc_info_string(demo_log):
    logger, stream = demo_log
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed\nwhile testing")
    [line] = parsed(stream.getvalue())  # one line although the message and traceback have several
    assert line["message"] == "lookup failed\nwhile testing"
    assert isinstance(line["exc_info"], str) and "KeyError: 'missing'" in line["exc_info"]


def test_a_django_request_record_is_written_without_the_request_object_and_its_query(demo_log, rf):
    logger, stream = demo_log
    request = rf.get("/xapi/agents", {"agent": '{"mbox": "mailto:someone@example.com"}'})
    logger.warning("Not Found: %s", request.path, extra={"status_code": 404, "request": request})
    [line] = parsed(stream.getvalue())
    assert line["status_code"] == 404 and "request" not in line
    assert "someone@example.com" not in stream.getvalue()


# -- the settings ---------------------------------------------------------------------------------


def log_one_line(**env: str) -> subprocess.CompletedProcess:
    """A process set up from the settings (as manage.py, gunicorn and Celery are) that logs one line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LRS_", "DJANGO_", "LOG_"))}
    clean.update({"LRS_ENV": "development", "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    code = (
        "import django, logging; django.setup(); logging.getLogger('lrs.demo').warning('hello %s', 'there')"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_plain_text_is_the_default():
    result = log_one_line()
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.endswith(" WARNING lrs.demo [-] hello there") and not line.startswith("{")


def test_log_format_json_makes_the_process_write_json_lines():
    result = log_one_line(LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    [line] = parsed(result.stderr)
    assert line["logger"] == "lrs.demo" and line["message"] == "hello there" and line["level"] == "WARNING"


def test_an_unknown_log_format_stops_start_up_naming_the_variable():
    result = log_one_line(LOG_FORMAT="xml")
    assert result.returncode != 0 and "LOG_FORMAT must be plain or json" in result.stderr


# -- the request line -----------------------------------------------------------------------------


@pytest.fixture
def request_lines() -> Iterator[io.StringIO]:
    """What the ``lrs.request`` logger writes, as JSON lines."""
    stream = io.StringIO()
    handler = json_handler(stream)
    logger = logging.getLogger("lrs.request")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.django_db
def test_a_statements_post_is_logged_with_method_path_status_duration_credential_and_count(
    xapi, request_lines
):
    statements = [make_statement() for _ in range(3)]
    response = xapi.post_statements(statements, headers={"X-Request-ID": "batch-1"})
    assert response.status_code == 200
    [line] = parsed(request_lines.getvalue())
    assert list(line) == [*KEYS, "method", "path", "status", "duration_ms", "credential", "statements"]
    assert line["request_id"] == "batch-1" and line["level"] == "INFO" and line["logger"] == "lrs.request"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/xapi/statements", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert (line["credential"], line["statements"]) == ("lms", 3)
    assert line["message"].startswith("POST /xapi/statements 200 ")


@pytest.mark.django_db
def test_a_statement_put_counts_one_statement(xapi, request_lines):
    statement_id = str(uuid.uuid4())
    response = xapi.put_json("/xapi/statements", make_statement(), query=f"?statementId={statement_id}")
    assert response.status_code == 204
    [line] = parsed(request_lines.getvalue())
    assert (line["method"], line["status"], line["statements"]) == ("PUT", 204, 1)


@pytest.mark.django_db
def test_the_query_string_is_left_out_of_the_request_line(xapi, request_lines):
    agent = json.dumps({"objectType": "Agent", "mbox": "mailto:private.person@example.com"})
    assert xapi.get("/xapi/statements", {"agent": agent}).status_code == 200
    [line] = parsed(request_lines.getvalue())
    assert line["path"] == "/xapi/statements" and "statements" not in line and line["credential"] == "lms"
    assert "private.person" not in request_lines.getvalue() and "?" not in line["message"]


@pytest.mark.django_db
def test_a_request_without_credentials_is_logged_without_a_credential(xapi_for, request_lines):
    anonymous = xapi_for(["all"])
    anonymous.headers.pop("Authorization")
    assert anonymous.post_statements(make_statement()).status_code == 401
    [line] = parsed(request_lines.getvalue())
    assert line["status"] == 401 and "credential" not in line


@pytest.mark.django_db
def test_probes_metrics_and_static_files_get_no_request_line(client, request_lines):
    for path in ("/healthz", "/readyz", "/metrics", "/static/admin/css/base.css"):
        client.get(path)
    assert client.get("/xapi/about").status_code == 200
    assert [line["path"] for line in parsed(request_lines.getvalue())] == ["/xapi/about"]


@pytest.mark.django_db
def test_no_request_line_is_written_when_info_is_off(xapi, request_lines):
    logging.getLogger("lrs.request").setLevel(logging.WARNING)
    assert xapi.post_statements(make_statement()).status_code == 200
    assert request_lines.getvalue() == ""


# -- Celery workers -------------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def run_worker_once(redis_url: str, log_path: Path, **env: str) -> str:
    """The log of a real worker that started, ran one task and was asked to stop (its
    ``Warm shutdown`` notice is a print of Celery's, not a log line: left out)."""
    worker = CeleryWorker(
        {
            **os.environ,
            "LRS_ENV": "test",
            "CELERY_BROKER_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore",  # Celery's warning about running as root is not a log line
            **env,
        },
        ROOT,
        log_path,
        ["--hostname", f"lrs-logs-{uuid.uuid4().hex[:6]}@%h"],
    )
    worker.start()
    try:
        task_id = send_builtin_task(redis_url)
        wait_until(lambda: f"{task_id}] succeeded" in worker.log_text(), timeout=20, message="the task")
        log = worker.log_text()
    finally:
        worker.stop()
    started = log.split(" ====\n", 1)[1]
    return started[: started.rfind("\n") + 1]  # whole lines only


def test_a_celery_worker_with_log_format_json_writes_only_json_lines(private_redis, tmp_path):
    log = run_worker_once(private_redis.url, tmp_path / "worker.log", LOG_FORMAT="json")
    lines = parsed(log.strip())  # every line parses: no banner, no plain-text line
    assert all(list(line)[:5] == KEYS for line in lines)
    messages = [line["message"] for line in lines]
    assert any(message.endswith(" ready.") for message in messages)
    assert any(message.startswith("Task celery.accumulate[") for message in messages)


def test_a_celery_worker_keeps_celerys_plain_format_by_default(private_redis, tmp_path):
    log = run_worker_once(private_redis.url, tmp_path / "worker.log")
    assert "[queues]" in log  # the banner
    [ready] = [line for line in log.splitlines() if line.endswith(" ready.")]
    assert ": INFO/MainProcess]" in ready and not ready.startswith("{")


def test_gunicorn_writes_json_lines_too_and_its_access_log_gives_way_to_the_request_line(tmp_path):
    """Under ``gunicorn -c python:config.gunicorn`` with LOG_FORMAT=json, gunicorn's own error log
    goes through the same formatter and its access log (which would print query strings) is off."""
    import requests

    from tests.adapters.helpers import free_port

    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "LRS_ENV": "test", "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "1"),
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def answered() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/xapi/about?agent=secret", timeout=10).ok
            except (requests.ConnectionError, requests.Timeout):  # (a worker still booting under load)
                return False

        wait_until(answered, timeout=30, message="gunicorn answering")
        wait_until(lambda: "lrs.request" in log.read_text(), timeout=10, message="the request line")
    finally:
        server.terminate()
        server.wait(timeout=15)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert {"gunicorn.error", "lrs.request"} <= {record["logger"] for record in records}
    assert "agent=secret" not in log.read_text()

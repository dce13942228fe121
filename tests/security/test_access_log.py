"""gunicorn's access log (on with LOG_FORMAT=plain, the default; config/gunicorn.py) writes a line
per request. Its default format carries the request line with its query string (xAPI queries name
people: ``agent={"mbox": "mailto:..."}``), the Referer (browser content launched the xAPI way has
``auth=Basic ...`` and the actor in its own URL) and the Basic user. The LRS's own request line
(config/request_log.py) leaves the query string out for this reason; the access log must too."""

from __future__ import annotations

import base64
import datetime
import importlib
import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

EMAIL = "ada.lovelace@example.com"
LAUNCH_AUTH = "Basic " + base64.b64encode(b"launch-key:launch-secret-9f8e").decode()


def access_line(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("GUNICORN_ACCESS_LOG", raising=False)
    import config.gunicorn as settings

    settings = importlib.reload(settings)
    config = Config()
    if getattr(settings, "access_log_format", None):
        config.set("access_log_format", settings.access_log_format)
    assert settings.accesslog == "-"  # on by default in plain mode: the line below is written
    query = "agent=" + quote(json.dumps({"mbox": f"mailto:{EMAIL}"}))
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/xapi/activities/state?{query}",
        "PATH_INFO": "/xapi/activities/state",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_REFERER": f"https://lms.example.com/course/index.html?auth={quote(LAUNCH_AUTH)}&actor={EMAIL}",
        "HTTP_USER_AGENT": "Mozilla/5.0",
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"secret-first-by-mistake:key").decode(),
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=12)
    request = SimpleNamespace(headers=[("AUTHORIZATION", environ["HTTP_AUTHORIZATION"])])
    atoms = Logger(config).atoms(response, request, environ, datetime.timedelta(milliseconds=3))
    return config.access_log_format % atoms


def test_the_access_log_line_holds_no_query_string_referer_or_basic_user(monkeypatch) -> None:
    line = access_line(monkeypatch)
    assert "/xapi/activities/state" in line and "200" in line
    for leaked in (
        EMAIL,
        quote(EMAIL),
        "launch-secret",
        quote(LAUNCH_AUTH),
        "secret-first-by-mistake",
        "agent=",
    ):
        assert leaked not in line, line

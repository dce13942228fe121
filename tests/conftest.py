"""Shared fixtures: credentials and an xAPI client speaking HTTP Basic + the version header."""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert
from lrs.statements import erasure

XAPI_VERSION = "1.0.3"


def basic_auth(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


class XAPIClient:
    """A Django test client that sends the xAPI headers on every request."""

    def __init__(self, credential: Credential | None, secret: str | None, version: str = XAPI_VERSION):
        # CSRF checks on, as in a real server: xAPI views must not depend on a CSRF cookie.
        self.client = Client(enforce_csrf_checks=True)
        self.credential = credential
        self.headers: dict[str, str] = {}
        if version:
            self.headers["X-Experience-API-Version"] = version
        if credential is not None and secret is not None:
            self.headers["Authorization"] = basic_auth(credential.key, secret)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(self.headers)
        for name, value in (extra or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def head(self, path: str, params: dict[str, Any] | None = None, headers: dict | None = None):
        return self.client.head(path, params or {}, headers=self._headers(headers))

    def post_json(self, path: str, data: Any, headers: dict | None = None, query: str = ""):
        body = data if isinstance(data, (bytes, str)) else json.dumps(data)
        return self.client.post(
            path + query, body, content_type="application/json", headers=self._headers(headers)
        )

    def put_json(self, path: str, data: Any, headers: dict | None = None, query: str = ""):
        body = data if isinstance(data, (bytes, str)) else json.dumps(data)
        return self.client.put(
            path + query, body, content_type="application/json", headers=self._headers(headers)
        )

    def post_statements(self, statements: Any, **kwargs: Any):
        return self.post_json("/xapi/statements", statements, **kwargs)

    def get_statements(self, **params: Any):
        return self.get("/xapi/statements", params)


@pytest.fixture(autouse=True)
def erasure_checks_off(monkeypatch):
    """A process looks for erasures (one SQL query) before storing or draining a batch, at most
    every 2 s (lrs.statements.erasure): off in tests, so the SQL a request runs is the same
    whichever test runs first; tests/lrs/statements/test_forgetting.py turns it on."""
    monkeypatch.setattr(erasure, "_next_check", math.inf)


@pytest.fixture
def make_credential(db) -> Callable[..., tuple[Credential, str]]:
    def make(name: str | None = None, scopes: list[str] | None = None) -> tuple[Credential, str]:
        secret = uuid.uuid4().hex
        result = credential_upsert(
            name=name or f"cred-{uuid.uuid4().hex[:8]}", scopes=scopes or ["all"], secret=secret
        )
        return result.credential, secret

    return make


@pytest.fixture
def xapi(make_credential) -> XAPIClient:
    credential, secret = make_credential("lms", ["all"])
    return XAPIClient(credential, secret)


@pytest.fixture
def xapi_for(make_credential) -> Callable[..., XAPIClient]:
    def build(scopes: list[str], name: str | None = None, version: str = XAPI_VERSION) -> XAPIClient:
        credential, secret = make_credential(name, scopes)
        return XAPIClient(credential, secret, version)

    return build


def make_statement(
    *,
    actor_email: str = "learner@example.com",
    verb: str = "http://adlnet.gov/expapi/verbs/completed",
    activity: str = "http://example.com/courses/safety-101",
    statement_id: str | None = None,
    **extra: Any,
) -> dict:
    statement: dict[str, Any] = {
        "actor": {"objectType": "Agent", "name": "A Learner", "mbox": f"mailto:{actor_email}"},
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {"name": {"en-US": "Safety 101", "de-DE": "Sicherheit 101"}},
        },
    }
    if statement_id:
        statement["id"] = statement_id
    statement.update(extra)
    return statement


@pytest.fixture
def statement_factory() -> Callable[..., dict]:
    return make_statement


HOOK = "https://hooks.example.com/lrs"


@pytest.fixture
def hook_target(monkeypatch):
    """An enabled webhook target named "hook" posting to ``HOOK`` (mock it with ``responses``)."""
    from adapters.models import Target

    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    return Target.objects.create(
        name="hook", adapter="webhook", config={"url": HOOK, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )


@pytest.fixture
def private_stack(tmp_path):
    """Factory: ``private_stack(broker_url="", **env)`` starts the LRS under gunicorn with the
    production settings on a private PostgreSQL (``tests/stack.py``); stopped in teardown."""
    from tests.stack import Stack

    stacks = []

    def start(broker_url: str = "", **extra_env: str):
        stack = Stack(tmp_path, broker_url=broker_url, extra_env=extra_env)
        stacks.append(stack)
        return stack.start()

    try:
        yield start
    finally:
        for stack in stacks:
            stack.stop()


@pytest.fixture
def latest_schema_afterwards(transactional_db):
    """For a test that migrates the test database back: every app is migrated forward to its
    latest migration afterwards, passed or failed. The next tests on this database (the same
    xdist worker's) would otherwise run against the old schema and fail on missing columns."""
    yield
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def seq_scans_in_transaction(table: str) -> int:
    """Sequential scans of ``table`` in the current transaction (``pg_stat_xact_user_tables``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        row = cursor.fetchone()
    return row[0] if row else 0


def prepared_lookups_by_array() -> list[str]:
    """The session's prepared statements that look rows up by ``= ANY(array)``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%= ANY(%"])
        return [row[0] for row in cursor.fetchall()]

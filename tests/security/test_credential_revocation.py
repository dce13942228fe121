"""A credential revoked in one process stops working at once in every server process.

Under gunicorn with two workers and the production settings (tests/stack.py), each worker having
just authenticated the credential (and cached it), another process (``manage.py``, as an
operator revoking a leaked key would) deactivates it, deletes it or gives it a new secret: the
very next requests with the old credential are 401 in both workers, and store nothing."""

from __future__ import annotations

import base64
import uuid

import requests

from tests.conftest import make_statement
from tests.stack import KEY, SECRET, Stack

# Enough requests that both workers answer some (gunicorn hands each to whichever accepts first).
ROUNDS = 12


def _headers(secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{KEY}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}


def _post_one(stack: Stack, secret: str) -> requests.Response:
    statement = make_statement(statement_id=str(uuid.uuid4()))
    return requests.post(f"{stack.url}/xapi/statements", json=statement, headers=_headers(secret), timeout=10)


def _get(stack: Stack, secret: str) -> requests.Response:
    return requests.get(f"{stack.url}/xapi/statements?limit=1", headers=_headers(secret), timeout=10)


def _statuses(stack: Stack, secret: str) -> set[int]:
    """What single-statement POSTs (the cached fast path) and GETs with ``secret`` are answered."""
    answers = set()
    for _ in range(ROUNDS):
        answers.add(_post_one(stack, secret).status_code)
        answers.add(_get(stack, secret).status_code)
    return answers


def _stored(stack: Stack) -> int:
    return int(
        stack.manage(
            "shell", "-c", "from lrs.statements.models import Statement; print(Statement.objects.count())"
        ).split()[-1]  # after what the shell says it imported
    )


def test_a_revoked_credential_is_refused_at_once_by_every_worker(private_stack):
    stack = private_stack(GUNICORN_WORKERS="2")
    scopes = "all,identity/write"
    assert _statuses(stack, SECRET) == {200}  # both workers have authenticated it (and cached it)

    stack.manage("create_credential", "lms", "--scopes", scopes, "--secret", "a-new-secret-0123456789")
    assert _statuses(stack, SECRET) == {401}, "the old secret still works after the secret was replaced"
    assert _statuses(stack, "a-new-secret-0123456789") == {200}

    stack.manage("create_credential", "lms", "--scopes", scopes, "--inactive")
    stored = _stored(stack)
    assert _statuses(stack, "a-new-secret-0123456789") == {401}, "a deactivated credential still works"
    assert _stored(stack) == stored

    stack.manage("create_credential", "lms", "--scopes", scopes)  # active again
    assert _statuses(stack, "a-new-secret-0123456789") == {200}
    delete = "from lrs.credentials.models import Credential; Credential.objects.filter(name='lms').delete()"
    stack.manage("shell", "-c", delete)
    stored = _stored(stack)
    assert _statuses(stack, "a-new-secret-0123456789") == {401}, "a deleted credential still works"
    assert _stored(stack) == stored

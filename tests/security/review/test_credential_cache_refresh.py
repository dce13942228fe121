"""A credential changed in one process is honoured at once by every server process in the other
direction too: a new secret, a scope granted or an expiry extended works on the very next
statement POST, not only after the cache of a worker that had the old copy runs out.

Statement POST and PUT authenticate from each worker's cache (``lrs.api.auth``); the write checks
the cached copy against its row (``lrs.credentials.current``), which catches a revocation. A
request the cached copy refuses (wrong secret, missing scope, expired) never reaches the write, so
before the fix it was refused for up to ``LRS_CREDENTIAL_CACHE_SECONDS`` although the stored
credential allows it. Only POSTs are sent below: a GET reads the credential from the database and
refreshes the cache, which would hide the defect."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import requests

from tests.conftest import make_statement
from tests.stack import KEY, SECRET, Stack

ROUNDS = 12  # enough POSTs that both workers answer some
SCOPES = "all,identity/write"
NEW_SECRET = "a-new-secret-0123456789"


def _post_statuses(stack: Stack, secret: str) -> set[int]:
    token = base64.b64encode(f"{KEY}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}
    return {
        requests.post(
            f"{stack.url}/xapi/statements",
            json=make_statement(statement_id=str(uuid.uuid4())),
            headers=headers,
            timeout=10,
        ).status_code
        for _ in range(ROUNDS)
    }


def test_a_credential_granted_more_in_another_process_works_at_once_on_statement_posts(private_stack):
    # A cache long enough that no copy runs out during the test.
    stack = private_stack(GUNICORN_WORKERS="2", LRS_CREDENTIAL_CACHE_SECONDS="300")
    assert _post_statuses(stack, SECRET) == {200}  # both workers have cached it

    stack.manage("create_credential", "lms", "--scopes", SCOPES, "--secret", NEW_SECRET)
    assert _post_statuses(stack, NEW_SECRET) == {200}, "the new secret is refused by a worker's cached copy"

    stack.manage("create_credential", "lms", "--scopes", "statements/read")
    assert _post_statuses(stack, NEW_SECRET) == {403}  # the write check caught it; caches refreshed
    stack.manage("create_credential", "lms", "--scopes", SCOPES)
    assert _post_statuses(stack, NEW_SECRET) == {200}, "a scope granted back is refused by a cached copy"

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    stack.manage("create_credential", "lms", "--scopes", SCOPES, "--expires-at", past)
    assert _post_statuses(stack, NEW_SECRET) == {401}  # expired (refreshed as above)
    stack.manage("create_credential", "lms", "--scopes", SCOPES, "--expires-in", "30")
    assert _post_statuses(stack, NEW_SECRET) == {200}, "an extended expiry is refused by a cached copy"

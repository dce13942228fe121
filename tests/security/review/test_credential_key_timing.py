"""A statement POST with a wrong secret takes the same work whether or not its key exists, so its
timing does not tell which keys exist (the 401's text does not either: ``lrs.api.auth``).

Statement POSTs authenticate from the process's credential cache (``lrs.api.auth``). A key cached
there (any client's recent request) was answered without a database round trip, an unknown key
with one: about a round trip's difference (a few hundred microseconds, more under load), which a
caller can measure to learn which keys are in use. Counted here as the database reads each makes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert
from tests.conftest import basic_auth, make_statement

pytestmark = pytest.mark.django_db(transaction=True)


def _credential_reads(client, key: str, secret: str) -> tuple[int, int, bytes]:
    """The answer to a statement POST with ``key:secret`` and how many times it read credentials."""
    table = Credential._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/xapi/statements",
            data=make_statement(),
            content_type="application/json",
            headers={"Authorization": basic_auth(key, secret), "X-Experience-API-Version": "1.0.3"},
        )
    reads = sum(1 for query in queries.captured_queries if f'FROM "{table}"' in query["sql"])
    return response.status_code, reads, response.content


def test_a_wrong_secret_costs_the_same_for_a_known_key_as_for_an_unknown_one(client, settings):
    settings.LRS_CREDENTIAL_CACHE_SECONDS = 60
    credential_upsert(name="lms", scopes=["all"], key="known-key", secret="the-right-secret-0123")
    status, _reads, _body = _credential_reads(client, "known-key", "the-right-secret-0123")
    assert status == 200  # and the process has the credential cached

    known = _credential_reads(client, "known-key", "a-wrong-secret-0123")
    unknown = _credential_reads(client, "no-such-key", "a-wrong-secret-0123")
    assert known == unknown, "a wrong secret for a cached key is answered without reading the database"

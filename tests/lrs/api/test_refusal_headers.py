"""A refused request (401: no, a wrong or an expired credential; 403: one without the scope) is told
nothing of the store's state: no ``X-Experience-API-Consistent-Through`` (how far the store has
written), no ``ETag`` nor ``Last-Modified`` (of a document or statement). It carries what any
answer carries: ``X-Experience-API-Version`` (Communication 3.3) and, on a 401, ``WWW-Authenticate``
(Communication 4.1)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from lrs.credentials.models import Credential
from tests.conftest import XAPIClient, basic_auth, make_statement

pytestmark = pytest.mark.django_db

LEAKING = ("X-Experience-API-Consistent-Through", "ETag", "Last-Modified")
AGENT = json.dumps({"objectType": "Agent", "mbox": "mailto:learner@example.com"})
ACTIVITY = "http://example.com/activities/course"


def resources(statement_id: str) -> list[tuple[str, dict[str, str]]]:
    """Each resource as a request that, allowed, is answered with the headers above."""
    return [
        ("/xapi/statements", {}),
        ("/xapi/statements", {"statementId": statement_id}),
        ("/xapi/activities/state", {"activityId": ACTIVITY, "agent": AGENT, "stateId": "bookmark"}),
        ("/xapi/activities/profile", {"activityId": ACTIVITY, "profileId": "p"}),
        ("/xapi/agents/profile", {"agent": AGENT, "profileId": "p"}),
        ("/xapi/activities", {"activityId": ACTIVITY}),
        ("/xapi/agents", {"agent": AGENT}),
    ]


@pytest.fixture
def stored(xapi: XAPIClient) -> str:
    """A statement and the documents, so that an allowed request would get their headers."""
    statement_id = str(uuid.uuid4())
    assert xapi.post_statements(make_statement(statement_id=statement_id)).status_code == 200
    for path, params in resources(statement_id)[2:5]:
        response = xapi.client.put(
            f"{path}?{urlencode(params)}",
            "{}",
            content_type="application/json",
            headers={**xapi.headers, "If-None-Match": "*"},
        )
        assert response.status_code == 204, (path, response.content)
    return statement_id


def refusals(make_credential) -> dict[str, dict[str, str]]:
    """The Authorization of each kind of refused caller (none: no header)."""
    expired, expired_secret = make_credential(scopes=["all"])
    Credential.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    writer, writer_secret = make_credential(scopes=["statements/write"])
    return {
        "none": {},
        "wrong secret": {"Authorization": basic_auth(expired.key, "not-it")},
        "expired": {"Authorization": basic_auth(expired.key, expired_secret)},
        "no scope": {"Authorization": basic_auth(writer.key, writer_secret)},
    }


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_refused_read_carries_no_header_telling_the_stores_state(stored, make_credential, method):
    leaked = {}
    for caller, authorization in refusals(make_credential).items():
        client = XAPIClient(None, None)
        for path, params in resources(stored):
            send = client.get if method == "GET" else client.head
            response = send(path, params, headers=authorization)
            assert response.status_code == (403 if caller == "no scope" else 401), (caller, path)
            assert response["X-Experience-API-Version"]
            if response.status_code == 401:
                assert response["WWW-Authenticate"] == 'Basic realm="lrs"'
            if found := [name for name in LEAKING if name in response]:
                leaked[(caller, path, tuple(params))] = found
    assert not leaked, leaked

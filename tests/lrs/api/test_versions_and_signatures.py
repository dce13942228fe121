"""xAPI 2.0 beside 1.0.3 through the API, and signed statements end to end."""

from __future__ import annotations

import hashlib
import json
import uuid
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from lrs.xapi.signatures import SIGNATURE_USAGE_TYPE
from tests.conftest import XAPIClient, make_statement
from tests.lrs.api.test_statements_attachments import BOUNDARY, multipart, post_multipart
from tests.lrs.xapi.test_signatures import jws, self_signed

pytestmark = pytest.mark.django_db

CONTEXT_AGENTS = {
    "contextAgents": [
        {
            "objectType": "contextAgent",
            "agent": {"mbox": "mailto:coach@example.com"},
            "relevantTypes": ["https://example.com/roles/coach"],
        }
    ],
    "contextGroups": [
        {
            "objectType": "contextGroup",
            "group": {"objectType": "Group", "mbox": "mailto:cohort-7@example.com"},
        }
    ],
}


@pytest.fixture
def xapi2(make_credential) -> XAPIClient:
    credential, secret = make_credential("lms2", ["all"])
    return XAPIClient(credential, secret, version="2.0.0")


def test_context_agents_are_accepted_in_2_0_and_rejected_in_1_0_3(xapi, xapi2):
    statement = make_statement(context=CONTEXT_AGENTS)
    assert xapi2.post_statements(statement).status_code == 200
    rejected = xapi.post_statements(statement)
    assert rejected.status_code == 400
    assert rejected.json()["path"].startswith("statement.context.contextAgents")


def test_context_agents_and_groups_count_as_related_agents(xapi2):
    [statement_id] = xapi2.post_statements(make_statement(context=CONTEXT_AGENTS)).json()
    for mbox in ("mailto:coach@example.com", "mailto:cohort-7@example.com"):
        agent = json.dumps({"mbox": mbox})
        found = xapi2.get_statements(agent=agent, related_agents="true").json()["statements"]
        assert [s["id"] for s in found] == [statement_id]
        assert xapi2.get_statements(agent=agent).json()["statements"] == []


def test_a_2_0_statement_gets_version_2_0_0_and_is_served_to_a_1_0_3_client(xapi, xapi2):
    [statement_id] = xapi2.post_statements(make_statement()).json()
    as_v2 = xapi2.get_statements(statementId=statement_id)
    assert as_v2.json()["version"] == "2.0.0"
    assert as_v2["X-Experience-API-Version"] == "2.0.0"
    as_v1 = xapi.get_statements(statementId=statement_id)
    assert as_v1.status_code == 200 and as_v1["X-Experience-API-Version"] == "1.0.3"
    assert as_v1.json()["id"] == statement_id


def test_a_1_0_3_statement_is_served_to_a_2_0_client(xapi, xapi2):
    [statement_id] = xapi.post_statements(make_statement()).json()
    served = xapi2.get_statements(statementId=statement_id)
    assert served.status_code == 200 and served.json()["version"] == "1.0.0"


def test_2_0_requires_rfc3339_timestamps(xapi, xapi2):
    statement = make_statement(timestamp="2024-03-01T12:00:00")  # no offset: ISO 8601, not RFC 3339
    assert xapi.post_statements(statement).status_code == 200
    assert xapi2.post_statements(statement).status_code == 400


def test_2_0_rejects_duplicate_ids_in_one_batch(xapi2):
    statement_id = str(uuid.uuid4())
    batch = [make_statement(statement_id=statement_id), make_statement(statement_id=statement_id)]
    assert xapi2.post_statements(batch).status_code == 400


def test_last_modified_of_a_statement_is_its_stored_time(xapi2):
    [statement_id] = xapi2.post_statements(make_statement()).json()
    response = xapi2.get_statements(statementId=statement_id)
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    stored = datetime.fromisoformat(response.json()["stored"].replace("Z", "+00:00"))
    assert abs((parsedate_to_datetime(response["Last-Modified"]) - stored).total_seconds()) < 1


def test_alternate_syntax_works_on_document_resources_in_1_0_3(xapi):
    params = {
        "activityId": "http://example.com/courses/safety-101",
        "agent": json.dumps({"mbox": "mailto:learner@example.com"}),
        "stateId": "bookmark",
    }
    form = urlencode(
        {
            **params,
            "content": json.dumps({"page": 7}),
            "Content-Type": "application/json",
            "Authorization": xapi.headers["Authorization"],
            "X-Experience-API-Version": "1.0.3",
        }
    )
    response = xapi.client.post(
        "/xapi/activities/state?method=PUT", form, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 204, response.content
    assert xapi.get("/xapi/activities/state", params).json() == {"page": 7}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed_request(statement: dict, token: bytes) -> bytes:
    meta = {
        "usageType": SIGNATURE_USAGE_TYPE,
        "display": {"en-US": "signature"},
        "contentType": "application/octet-stream",
        "length": len(token),
        "sha2": hashlib.sha256(token).hexdigest(),
    }
    return multipart([{**statement, "attachments": [meta]}], [(token, "application/octet-stream")])


def test_signed_statement_with_a_valid_signature_is_stored(xapi, key):
    statement = make_statement(statement_id=str(uuid.uuid4()))
    token = jws(statement, key, "RS256", x5c=[self_signed(key)])
    response = post_multipart(xapi, signed_request(statement, token))
    assert response.status_code == 200, response.content
    served = xapi.get_statements(statementId=statement["id"], attachments="true")
    assert (
        served["Content-Type"] == f"multipart/mixed; boundary={served['Content-Type'].split('boundary=')[1]}"
    )
    assert token in served.content
    assert BOUNDARY not in served["Content-Type"]


def test_signed_statement_whose_payload_differs_is_400(xapi, key):
    statement = make_statement(statement_id=str(uuid.uuid4()))
    tampered = {**statement, "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"}}
    token = jws(tampered, key, "RS256", x5c=[self_signed(key)])
    response = post_multipart(xapi, signed_request(statement, token))
    assert response.status_code == 400
    assert response.json()["rule"] == "signature-mismatch"


def test_signature_not_made_by_the_certificate_key_is_400(xapi, key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    statement = make_statement(statement_id=str(uuid.uuid4()))
    token = jws(statement, other, "RS256", x5c=[self_signed(key)])
    response = post_multipart(xapi, signed_request(statement, token))
    assert response.status_code == 400
    assert response.json()["rule"] == "signature-invalid"


def test_2_0_only_properties_are_left_out_for_a_1_0_3_client(xapi, xapi2):
    [statement_id] = xapi2.post_statements(make_statement(context=CONTEXT_AGENTS)).json()
    assert "contextAgents" in xapi2.get_statements(statementId=statement_id).json()["context"]
    served = xapi.get_statements(statementId=statement_id).json()
    assert "contextAgents" not in served["context"] and "contextGroups" not in served["context"]
    listed = xapi.get_statements().json()["statements"]
    assert "contextAgents" not in listed[0]["context"]

"""The Activity Profile (/xapi/activities/profile) and Agent Profile (/xapi/agents/profile) resources.

Communication 2.2, 2.6, 2.7 and 3.1; xAPI 2.0 4.1.4, 4.1.6.5, 4.1.6.6. Every test runs against both.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from lrs.documents.models import Document
from tests.lrs.api.document_helpers import (
    ACTIVITY_ID,
    ACTIVITY_PROFILE,
    AGENT,
    AGENT_PROFILE,
    STATE,
    send,
    sha1_etag,
)

pytestmark = pytest.mark.django_db

CREATE = {"If-None-Match": "*"}


@pytest.fixture(params=[ACTIVITY_PROFILE, AGENT_PROFILE], ids=["activity-profile", "agent-profile"])
def resource(request):
    return request.param


def context_of(resource: str) -> dict:
    return {"activityId": ACTIVITY_ID} if resource == ACTIVITY_PROFILE else {"agent": AGENT}


def profile(resource: str, **extra) -> dict:
    return {**context_of(resource), "profileId": "preferences", **extra}


# --- single document ------------------------------------------------------------------------------


def test_put_then_get_returns_the_document_with_a_quoted_sha1_etag(xapi, resource):
    body = b'{"language": "fr-FR"}'
    assert send(xapi, "put", resource, profile(resource), body, headers=CREATE).status_code == 204
    response = send(xapi, "get", resource, profile(resource))
    assert response.status_code == 200
    assert response.content == body
    assert response["Content-Type"] == "application/json"
    assert re.fullmatch(r'"[0-9a-f]{40}"', response["ETag"])
    assert response["ETag"] == sha1_etag(body)
    assert response["Last-Modified"].endswith("GMT")


def test_head_answers_like_get_without_a_body(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"a": 1})
    response = send(xapi, "head", resource, profile(resource))
    assert response.status_code == 200
    assert response.content == b""
    assert "ETag" in response


def test_get_of_an_unknown_profile_is_404(xapi, resource):
    assert send(xapi, "get", resource, profile(resource, profileId="nope")).status_code == 404


def test_profile_documents_are_separate_from_state_and_from_the_other_profile_kind(xapi):
    send(xapi, "post", ACTIVITY_PROFILE, profile(ACTIVITY_PROFILE, profileId="p"), {"kind": "activity"})
    send(xapi, "post", AGENT_PROFILE, profile(AGENT_PROFILE, profileId="p"), {"kind": "agent"})
    send(xapi, "post", STATE, {"activityId": ACTIVITY_ID, "agent": AGENT, "stateId": "p"}, {"kind": "state"})
    assert send(xapi, "get", ACTIVITY_PROFILE, profile(ACTIVITY_PROFILE, profileId="p")).json() == {
        "kind": "activity"
    }
    assert send(xapi, "get", AGENT_PROFILE, profile(AGENT_PROFILE, profileId="p")).json() == {"kind": "agent"}
    assert Document.objects.count() == 3


def test_binary_profile_keeps_its_content_type(xapi, resource):
    body = b"\x89PNG\r\n\x1a\n\x00"
    send(xapi, "put", resource, profile(resource), body, content_type="image/png", headers=CREATE)
    response = send(xapi, "get", resource, profile(resource))
    assert response.content == body
    assert response["Content-Type"] == "image/png"


# --- POST -----------------------------------------------------------------------------------------


def test_post_of_a_new_profile_stores_it(xapi, resource):
    assert send(xapi, "post", resource, profile(resource), {"a": 1}).status_code == 204
    assert send(xapi, "get", resource, profile(resource)).json() == {"a": 1}


def test_post_merges_json_objects_at_the_top_level(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"car": "Honda", "nested": {"a": 1, "b": 2}})
    assert (
        send(xapi, "post", resource, profile(resource), {"type": "Civic", "nested": {"c": 3}}).status_code
        == 204
    )
    assert send(xapi, "get", resource, profile(resource)).json() == {
        "car": "Honda",
        "type": "Civic",
        "nested": {"c": 3},
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"abcdefg", "not/json"),
        (b"abc", "application/x-www-form-urlencoded"),
        (b'{"a": 1}[', "application/json"),
    ],
)
def test_post_that_cannot_be_merged_is_400_and_the_profile_is_unchanged(xapi, resource, body, content_type):
    send(xapi, "post", resource, profile(resource), {"keep": 1})
    assert send(xapi, "post", resource, profile(resource), body, content_type=content_type).status_code == 400
    assert send(xapi, "get", resource, profile(resource)).json() == {"keep": 1}


def test_post_of_json_onto_an_octet_stream_profile_is_400_and_it_is_unchanged(xapi, resource):
    headers = {"If-None-Match": "*"}
    send(
        xapi,
        "put",
        resource,
        profile(resource),
        b"/ asdf /",
        content_type="application/octet-stream",
        headers=headers,
    )
    assert send(xapi, "post", resource, profile(resource), {"a": 1}).status_code == 400
    assert send(xapi, "get", resource, profile(resource)).content == b"/ asdf /"


# --- ids ------------------------------------------------------------------------------------------


def test_get_without_profile_id_lists_the_profile_ids(xapi, resource):
    for profile_id in ("one", "two"):
        send(xapi, "post", resource, profile(resource, profileId=profile_id), {})
    other = (
        {"activityId": "http://example.com/other"}
        if resource == ACTIVITY_PROFILE
        else {"agent": {"mbox": "mailto:other@example.com"}}
    )
    send(xapi, "post", resource, {**other, "profileId": "three"}, {})
    response = send(xapi, "get", resource, context_of(resource))
    assert response.status_code == 200
    assert sorted(response.json()) == ["one", "two"]


def test_since_lists_only_profiles_changed_after_it(xapi, resource):
    send(xapi, "post", resource, profile(resource, profileId="old"), {})
    send(xapi, "post", resource, profile(resource, profileId="new"), {})
    Document.objects.filter(document_id="old").update(updated=timezone.now() - timedelta(hours=2))
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert send(xapi, "get", resource, {**context_of(resource), "since": since}).json() == ["new"]


def test_since_with_profile_id_is_400(xapi, resource):
    response = send(xapi, "get", resource, profile(resource, since="2024-01-01T00:00:00Z"))
    assert response.status_code == 400


@pytest.mark.parametrize("since", ["true", "yesterday"])
def test_invalid_since_is_400(xapi, resource, since):
    assert send(xapi, "get", resource, {**context_of(resource), "since": since}).status_code == 400


# --- DELETE ---------------------------------------------------------------------------------------


def test_delete_removes_the_profile(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"a": 1})
    assert send(xapi, "delete", resource, profile(resource)).status_code == 204
    assert send(xapi, "get", resource, profile(resource)).status_code == 404


def test_delete_without_profile_id_is_400_and_deletes_nothing(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"a": 1})
    response = send(xapi, "delete", resource, context_of(resource))
    assert response.status_code == 400
    assert response.json()["path"] == "profileId"
    assert Document.objects.exists()


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
def test_missing_activity_id_or_agent_is_400(xapi, resource, method):
    params = {"profileId": "p"}
    response = send(xapi, method, resource, params, {"a": 1}, headers=CREATE)
    assert response.status_code == 400
    assert response.json()["path"] == ("activityId" if resource == ACTIVITY_PROFILE else "agent")


@pytest.mark.parametrize("method", ["put", "post"])
def test_put_and_post_without_profile_id_are_400(xapi, resource, method):
    response = send(xapi, method, resource, context_of(resource), {"a": 1}, headers=CREATE)
    assert response.status_code == 400
    assert response.json()["path"] == "profileId"


@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
def test_invalid_activity_id_is_400(xapi, method):
    params = {"activityId": "true", "profileId": "p"}
    assert send(xapi, method, ACTIVITY_PROFILE, params, {"a": 1}, headers=CREATE).status_code == 400


@pytest.mark.parametrize(
    "agent",
    [
        "true",
        "not JSON",
        {"objectType": "Agent", "name": "no identifier"},
        {"objectType": "Group", "mbox": "mailto:team@example.com"},
        {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]},
    ],
)
@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
def test_agent_profile_needs_an_agent_with_one_identifier_not_a_group(xapi, method, agent):
    params = {"agent": agent, "profileId": "p"}
    assert send(xapi, method, AGENT_PROFILE, params, {"a": 1}, headers=CREATE).status_code == 400


@pytest.mark.parametrize("extra", [{"registration": str(uuid.uuid4())}, {"stateId": "s"}, {"ProfileId": "p"}])
def test_parameters_of_other_resources_are_400(xapi, resource, extra):
    response = send(xapi, "post", resource, profile(resource, **extra), {"a": 1})
    assert response.status_code == 400
    assert response.json()["rule"] == "unknown-parameter"


def test_activity_profile_does_not_accept_an_agent_parameter(xapi):
    response = send(xapi, "get", ACTIVITY_PROFILE, profile(ACTIVITY_PROFILE, agent=AGENT))
    assert response.status_code == 400


# --- concurrency ----------------------------------------------------------------------------------


def test_1_0_3_put_of_a_new_profile_without_if_match_or_if_none_match_is_400(xapi, resource):
    response = send(xapi, "put", resource, profile(resource), {"a": 1})
    assert response.status_code == 400
    assert response.json()["rule"] == "concurrency-header-required"
    assert not Document.objects.exists()


def test_2_0_put_of_a_new_profile_without_concurrency_headers_is_stored(xapi_for, resource):
    client = xapi_for(["all"], version="2.0.0")
    assert send(client, "put", resource, profile(resource), {"a": 1}).status_code == 204


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_put_over_an_existing_profile_without_headers_is_409_with_an_explanation(xapi_for, resource, version):
    client = xapi_for(["all"], version=version)
    send(client, "post", resource, profile(resource), {"a": 1})
    response = send(client, "put", resource, profile(resource), {"b": 2})
    assert response.status_code == 409
    message = response.json()["message"]
    assert "If-Match" in message and "ETag" in message
    assert send(client, "get", resource, profile(resource)).json() == {"a": 1}


def test_if_none_match_star_creates_but_does_not_overwrite(xapi, resource):
    assert send(xapi, "put", resource, profile(resource), {"a": 1}, headers=CREATE).status_code == 204
    assert send(xapi, "put", resource, profile(resource), {"b": 2}, headers=CREATE).status_code == 412
    assert send(xapi, "get", resource, profile(resource)).json() == {"a": 1}


def test_put_with_the_current_etag_replaces_the_profile(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"a": 1})
    etag = send(xapi, "get", resource, profile(resource))["ETag"]
    assert (
        send(xapi, "put", resource, profile(resource), {"b": 2}, headers={"If-Match": etag}).status_code
        == 204
    )
    assert send(xapi, "get", resource, profile(resource)).json() == {"b": 2}


def test_if_match_accepts_a_list_a_weak_form_and_star(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"a": 1})
    for form in ('"0000", {etag}', "W/{etag}", "*"):
        etag = send(xapi, "get", resource, profile(resource))["ETag"]
        header = form.format(etag=etag)
        response = send(
            xapi, "post", resource, profile(resource), {"h": header}, headers={"If-Match": header}
        )
        assert response.status_code == 204, header


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_a_wrong_if_match_is_412_and_the_profile_is_unchanged(xapi_for, resource, version, method):
    client = xapi_for(["all"], version=version)
    send(client, "post", resource, profile(resource), {"a": 1})
    bad = '"1111111111111111111111111111111111111111"'
    response = send(client, method, resource, profile(resource), {"b": 2}, headers={"If-Match": bad})
    assert response.status_code == 412
    assert send(client, "get", resource, profile(resource)).json() == {"a": 1}


def test_delete_with_the_current_etag_deletes(xapi_for, resource):
    client = xapi_for(["all"], version="2.0.0")
    send(client, "post", resource, profile(resource), {"a": 1})
    etag = send(client, "get", resource, profile(resource))["ETag"]
    assert send(client, "delete", resource, profile(resource), headers={"If-Match": etag}).status_code == 204
    assert not Document.objects.exists()


def test_post_with_if_none_match_star_onto_an_existing_profile_is_412(xapi, resource):
    send(xapi, "post", resource, profile(resource), {"a": 1})
    response = send(xapi, "post", resource, profile(resource), {"b": 2}, headers=CREATE)
    assert response.status_code == 412
    assert send(xapi, "get", resource, profile(resource)).json() == {"a": 1}


# --- scopes ---------------------------------------------------------------------------------------


def test_profile_scope_reads_and_writes_profiles(xapi_for, resource):
    client = xapi_for(["profile"])
    assert send(client, "put", resource, profile(resource), {"a": 1}, headers=CREATE).status_code == 204
    assert send(client, "get", resource, profile(resource)).status_code == 200
    assert send(client, "delete", resource, profile(resource)).status_code == 204


@pytest.mark.parametrize("granted", [["state"], ["statements/write", "statements/read"]])
def test_credentials_without_profile_scope_get_403(xapi_for, resource, granted):
    client = xapi_for(granted)
    assert send(client, "post", resource, profile(resource), {"a": 1}).status_code == 403
    assert send(client, "get", resource, context_of(resource)).status_code == 403


def test_all_read_reads_profiles_but_cannot_write_them(xapi_for, resource):
    client = xapi_for(["all/read"])
    assert send(client, "get", resource, context_of(resource)).status_code == 200
    assert send(client, "post", resource, profile(resource), {"a": 1}).status_code == 403


def test_profile_over_the_size_limit_is_413(xapi, resource, settings):
    settings.LRS_MAX_DOCUMENT_BYTES = 4
    response = send(
        xapi, "put", resource, profile(resource), b"12345", content_type="text/plain", headers=CREATE
    )
    assert response.status_code == 413


@pytest.mark.xfail(
    strict=True,
    reason="the account key joins homePage and name with '::' (lrs.xapi.agents.agent_ifi), so these two "
    "accounts share documents. Communication 2.1.3: agents 'are equal when the same Inverse Functional "
    "Identifier is used in each Object compared and those Inverse Functional Identifiers have equal "
    "values' (tests/lrs/xapi/test_agent_ifi.py has the unit case)",
)
def test_an_agent_profile_of_one_account_is_not_served_for_another_account(xapi):
    owner = {"account": {"homePage": "http://example.com/a::b", "name": "c"}}
    stranger = {"account": {"homePage": "http://example.com/a", "name": "b::c"}}
    stored = send(
        xapi, "put", AGENT_PROFILE, {"agent": owner, "profileId": "p"}, {"of": "owner"}, headers=CREATE
    )
    assert stored.status_code == 204
    assert send(xapi, "get", AGENT_PROFILE, {"agent": stranger, "profileId": "p"}).status_code == 404
    assert send(xapi, "get", AGENT_PROFILE, {"agent": stranger}).json() == []

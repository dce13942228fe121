"""The State resource /xapi/activities/state (Communication 2.2, 2.3, 3.1; xAPI 2.0 4.1.4, 4.1.6.2)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from lrs.documents.models import Document
from tests.lrs.api.document_helpers import ACTIVITY_ID, AGENT, STATE, send, sha1_etag

pytestmark = pytest.mark.django_db


def state(**extra):
    return {"activityId": ACTIVITY_ID, "agent": AGENT, "stateId": "bookmark", **extra}


def context(**extra):
    return {"activityId": ACTIVITY_ID, "agent": AGENT, **extra}


# --- single document ------------------------------------------------------------------------------


def test_put_then_get_returns_the_exact_bytes_content_type_etag_and_last_modified(xapi):
    body = b'{"page": 3,  "note": "caf\xc3\xa9"}'
    assert send(xapi, "put", STATE, state(), body).status_code == 204
    response = send(xapi, "get", STATE, state())
    assert response.status_code == 200
    assert response.content == body
    assert response["Content-Type"] == "application/json"
    assert response["ETag"] == sha1_etag(body)
    assert re.fullmatch(r'"[0-9a-f]{40}"', response["ETag"])
    assert response["Last-Modified"].endswith("GMT")
    assert response["X-Experience-API-Version"] == "1.0.3"


def test_non_json_document_keeps_its_content_type_exactly(xapi):
    body = bytes(range(256))
    response = send(
        xapi, "put", STATE, state(), body, content_type="application/x-custom; charset=binary; v=2"
    )
    assert response.status_code == 204
    response = send(xapi, "get", STATE, state())
    assert response.content == body
    assert response["Content-Type"] == "application/x-custom; charset=binary; v=2"


def test_get_of_an_unknown_state_is_404(xapi):
    response = send(xapi, "get", STATE, state(stateId="never-stored"))
    assert response.status_code == 404
    assert response.json()["rule"] == "not-found"


def test_head_answers_like_get_without_a_body(xapi):
    send(xapi, "put", STATE, state(), {"a": 1})
    response = send(xapi, "head", STATE, state())
    assert response.status_code == 200
    assert response.content == b""
    assert response["ETag"] == sha1_etag(b'{"a": 1}')
    assert response["Content-Length"] == str(len(b'{"a": 1}'))


def test_get_with_if_none_match_of_the_current_etag_is_304(xapi):
    send(xapi, "put", STATE, state(), {"a": 1})
    etag = send(xapi, "get", STATE, state())["ETag"]
    response = send(xapi, "get", STATE, state(), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response["ETag"] == etag


def test_the_agent_is_matched_by_its_identifier_not_its_other_properties(xapi):
    send(xapi, "put", STATE, state(agent={"mbox": "mailto:learner@EXAMPLE.com", "name": "A"}), {"a": 1})
    response = send(
        xapi, "get", STATE, state(agent={"objectType": "Agent", "mbox": "mailto:learner@example.com"})
    )
    assert response.status_code == 200
    assert response.json() == {"a": 1}


def test_an_identified_group_can_hold_state(xapi):
    group = {"objectType": "Group", "account": {"homePage": "http://lms.example.com", "name": "team-7"}}
    assert send(xapi, "put", STATE, state(agent=group), {"team": True}).status_code == 204
    assert send(xapi, "get", STATE, state(agent=group)).json() == {"team": True}


def test_registration_separates_documents(xapi):
    registration = str(uuid.uuid4())
    send(xapi, "put", STATE, state(), {"where": "none"})
    send(xapi, "put", STATE, state(registration=registration), {"where": "registration"})
    assert send(xapi, "get", STATE, state()).json() == {"where": "none"}
    assert send(xapi, "get", STATE, state(registration=registration)).json() == {"where": "registration"}
    other = send(xapi, "get", STATE, state(registration=str(uuid.uuid4())))
    assert other.status_code == 404
    assert Document.objects.count() == 2


def test_put_replaces_the_document(xapi):
    send(xapi, "put", STATE, state(), {"a": 1, "b": 2})
    assert send(xapi, "put", STATE, state(), {"c": 3}).status_code == 204
    assert send(xapi, "get", STATE, state()).json() == {"c": 3}
    assert Document.objects.count() == 1


def test_put_with_a_json_content_type_and_invalid_json_is_400_and_stores_nothing(xapi):
    response = send(xapi, "put", STATE, state(), b'{"a": 1', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["rule"] == "json"
    assert not Document.objects.exists()


def test_an_empty_non_json_document_can_be_stored(xapi):
    # The test client drops Content-Type for an empty body; send it as a header like a real client.
    response = send(xapi, "put", STATE, state(), b"", headers={"Content-Type": "text/plain"})
    assert response.status_code == 204
    response = send(xapi, "get", STATE, state())
    assert response.content == b""
    assert response["Content-Type"] == "text/plain"


def test_malformed_content_type_is_400(xapi):
    response = send(xapi, "put", STATE, state(), b"x", content_type="not a media type")
    assert response.status_code == 400
    assert response.json()["rule"] == "content-type"


# --- POST and the JSON merge ----------------------------------------------------------------------


def test_post_of_a_new_document_stores_it_like_put(xapi):
    assert send(xapi, "post", STATE, state(), {"x": "foo"}).status_code == 204
    assert send(xapi, "get", STATE, state()).json() == {"x": "foo"}


def test_post_merges_top_level_properties_and_replaces_nested_objects_whole(xapi):
    send(xapi, "post", STATE, state(), {"x": "foo", "y": "bar", "car": {"make": "Ford", "model": "Escape"}})
    response = send(xapi, "post", STATE, state(), {"x": "bash", "z": "faz", "car": {"make": "Dodge"}})
    assert response.status_code == 204
    assert send(xapi, "get", STATE, state()).json() == {
        "x": "bash",
        "y": "bar",
        "z": "faz",
        "car": {"make": "Dodge"},
    }


def test_merged_document_gets_a_new_etag(xapi):
    send(xapi, "post", STATE, state(), {"a": 1})
    first = send(xapi, "get", STATE, state())["ETag"]
    send(xapi, "post", STATE, state(), {"b": 2})
    response = send(xapi, "get", STATE, state())
    assert response["ETag"] != first
    assert response["ETag"] == sha1_etag(response.content)


@pytest.mark.parametrize(
    ("body", "content_type", "rule"),
    [
        (b"abcdefg", "not/json", "merge-content-type"),
        (b"abc", "application/x-www-form-urlencoded", "merge-content-type"),
        (b'{"a": 1}{', "application/json", "json"),
        (b"[1, 2]", "application/json", "merge-object"),
        (b'"text"', "application/json", "merge-object"),
    ],
)
def test_post_that_cannot_be_merged_into_a_json_document_is_400_and_changes_nothing(
    xapi, body, content_type, rule
):
    send(xapi, "post", STATE, state(), {"keep": "me"})
    before = Document.objects.get()
    response = send(xapi, "post", STATE, state(), body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["rule"] == rule
    after = Document.objects.get()
    assert (bytes(after.content), after.etag, after.updated) == (
        bytes(before.content),
        before.etag,
        before.updated,
    )


def test_post_of_json_onto_a_non_json_document_is_400_and_changes_nothing(xapi):
    send(xapi, "put", STATE, state(), b"/ asdf / undefined", content_type="application/octet-stream")
    response = send(xapi, "post", STATE, state(), {"a": 1})
    assert response.status_code == 400
    assert response.json()["rule"] == "merge-content-type"
    get = send(xapi, "get", STATE, state())
    assert get.content == b"/ asdf / undefined"
    assert get["Content-Type"] == "application/octet-stream"


def test_post_of_json_onto_a_stored_json_array_is_400(xapi):
    send(xapi, "put", STATE, state(), [1, 2])
    response = send(xapi, "post", STATE, state(), {"a": 1})
    assert response.status_code == 400
    assert response.json()["rule"] == "merge-object"


# --- lists and multiple delete --------------------------------------------------------------------


def test_get_without_state_id_lists_the_ids_of_the_context(xapi):
    for state_id in ("a", "b"):
        send(xapi, "put", STATE, state(stateId=state_id), {"s": state_id})
    send(xapi, "put", STATE, state(stateId="other-agent", agent={"mbox": "mailto:other@example.com"}), {})
    send(xapi, "put", STATE, state(stateId="other-activity", activityId="http://example.com/x"), {})
    response = send(xapi, "get", STATE, context())
    assert response.status_code == 200
    assert sorted(response.json()) == ["a", "b"]
    assert response["Content-Type"].startswith("application/json")
    assert response["Last-Modified"].endswith("GMT")
    assert re.fullmatch(r'"[0-9a-f]{40}"', response["ETag"])


def test_list_of_an_empty_context_is_an_empty_array(xapi):
    response = send(xapi, "get", STATE, context())
    assert response.status_code == 200
    assert response.json() == []
    assert "Last-Modified" not in response


def test_list_with_registration_only_shows_that_registration_and_without_shows_all(xapi):
    registration = str(uuid.uuid4())
    send(xapi, "put", STATE, state(stateId="plain"), {})
    send(xapi, "put", STATE, state(stateId="registered", registration=registration), {})
    assert send(xapi, "get", STATE, context(registration=registration)).json() == ["registered"]
    assert sorted(send(xapi, "get", STATE, context()).json()) == ["plain", "registered"]


def test_since_lists_only_documents_changed_after_it_exclusive(xapi):
    send(xapi, "put", STATE, state(stateId="old"), {})
    send(xapi, "put", STATE, state(stateId="new"), {})
    old = Document.objects.get(document_id="old")
    new = Document.objects.get(document_id="new")
    old.updated = timezone.now() - timedelta(hours=2)
    old.save()
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert send(xapi, "get", STATE, context(since=since)).json() == ["new"]
    exactly = new.updated.isoformat()
    assert send(xapi, "get", STATE, context(since=exactly)).json() == []


def test_a_change_made_while_the_clock_stepped_back_is_still_after_the_one_before(xapi, monkeypatch):
    """``since`` is exclusive (Communication 2.3): a client that saw the document's last change
    asks for what changed after it. A change made while the server's clock stands earlier (an
    NTP step back) keeps the document's time moving forward, so that client finds it; had it
    kept the previous time, ``since`` would exclude it for good."""
    send(xapi, "put", STATE, state(stateId="doc"), {"v": 1})
    seen = Document.objects.get(document_id="doc").updated
    stepped_back = seen - timedelta(seconds=5)
    monkeypatch.setattr("lrs.documents.services.timezone.now", lambda: stepped_back)

    send(xapi, "post", STATE, state(stateId="doc"), {"v": 2})

    assert Document.objects.get(document_id="doc").updated > seen
    assert send(xapi, "get", STATE, context(since=seen.isoformat())).json() == ["doc"]


def test_delete_of_one_state_removes_only_it(xapi):
    send(xapi, "put", STATE, state(stateId="a"), {})
    send(xapi, "put", STATE, state(stateId="b"), {})
    assert send(xapi, "delete", STATE, state(stateId="a")).status_code == 204
    assert send(xapi, "get", STATE, state(stateId="a")).status_code == 404
    assert send(xapi, "get", STATE, context()).json() == ["b"]


def test_delete_of_a_missing_state_is_204(xapi):
    assert send(xapi, "delete", STATE, state(stateId="missing")).status_code == 204


def test_delete_without_state_id_deletes_every_state_of_the_context_only(xapi):
    registration = str(uuid.uuid4())
    send(xapi, "put", STATE, state(stateId="a"), {})
    send(xapi, "put", STATE, state(stateId="b", registration=registration), {})
    send(xapi, "put", STATE, state(stateId="c", agent={"mbox": "mailto:other@example.com"}), {})
    assert send(xapi, "delete", STATE, context()).status_code == 204
    assert send(xapi, "get", STATE, context()).json() == []
    assert list(Document.objects.values_list("document_id", flat=True)) == ["c"]


def test_delete_without_state_id_but_with_registration_keeps_other_registrations(xapi):
    registration = str(uuid.uuid4())
    send(xapi, "put", STATE, state(stateId="plain"), {})
    send(xapi, "put", STATE, state(stateId="registered", registration=registration), {})
    assert send(xapi, "delete", STATE, context(registration=registration)).status_code == 204
    assert send(xapi, "get", STATE, context()).json() == ["plain"]


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
@pytest.mark.parametrize("missing", ["activityId", "agent"])
def test_missing_activity_id_or_agent_is_400(xapi, method, missing):
    params = state()
    del params[missing]
    response = send(xapi, method, STATE, params, {"a": 1})
    assert response.status_code == 400
    assert response.json()["path"] == missing
    assert response.json()["rule"] == "required"


@pytest.mark.parametrize("method", ["put", "post"])
def test_put_and_post_without_state_id_are_400(xapi, method):
    response = send(xapi, method, STATE, context(), {"a": 1})
    assert response.status_code == 400
    assert response.json()["path"] == "stateId"


def test_empty_state_id_is_400(xapi):
    assert send(xapi, "put", STATE, state(stateId=""), {"a": 1}).status_code == 400


@pytest.mark.parametrize(
    ("params", "path"),
    [
        (state(activityId="not an iri"), "activityId"),
        (state(activityId="true"), "activityId"),
        (state(agent="not JSON"), "agent"),
        (state(agent="true"), "agent"),
        (state(agent={"objectType": "Agent", "name": "no identifier"}), "agent"),
        (state(agent={"mbox": "mailto:a@example.com", "openid": "http://openid.example.com/a"}), "agent"),
        (state(agent={"mbox": "learner@example.com"}), "agent"),
        (state(registration="true"), "registration"),
        (state(registration="not-a-uuid"), "registration"),
        (state(Registration=str(uuid.uuid4())), "Registration"),
        (state(profileId="x"), "profileId"),
    ],
)
@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
def test_invalid_or_unknown_parameters_are_400(xapi, method, params, path):
    response = send(xapi, method, STATE, params, {"a": 1})
    assert response.status_code == 400
    assert response.json()["path"].startswith(path)
    assert not Document.objects.exists()


def test_agent_parameter_with_broken_url_encoding_is_400(xapi):
    agent = json.dumps(AGENT).replace(":", '"', 1)
    url = STATE + "?" + urlencode({"activityId": ACTIVITY_ID, "stateId": "s", "agent": agent})
    response = xapi.client.post(url, b'{"a": 1}', content_type="application/json", headers=xapi.headers)
    assert response.status_code == 400


@pytest.mark.parametrize("since", ["not a timestamp", "true", "2024-13-01T00:00:00Z"])
def test_invalid_since_is_400(xapi, since):
    response = send(xapi, "get", STATE, context(since=since))
    assert response.status_code == 400
    assert response.json()["path"] == "since"


def test_since_together_with_state_id_is_400(xapi):
    response = send(xapi, "get", STATE, state(since="2024-01-01T00:00:00Z"))
    assert response.status_code == 400
    assert response.json()["path"] == "since"


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_since_is_not_a_parameter_of_writes(xapi, method):
    response = send(xapi, method, STATE, state(since="2024-01-01T00:00:00Z"), {"a": 1})
    assert response.status_code == 400
    assert response.json()["rule"] == "unknown-parameter"


def test_missing_version_header_is_400(xapi):
    response = send(xapi, "get", STATE, state(), headers={"X-Experience-API-Version": None})
    assert response.status_code == 400
    assert response.json()["rule"] == "version-required"


# --- size -----------------------------------------------------------------------------------------


def test_document_over_the_size_limit_is_413(xapi, settings):
    settings.LRS_MAX_DOCUMENT_BYTES = 10
    response = send(xapi, "put", STATE, state(), b"x" * 11, content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["rule"] == "document-size"
    assert send(xapi, "put", STATE, state(), b"x" * 10, content_type="text/plain").status_code == 204


def test_merge_whose_result_is_over_the_size_limit_is_413_and_changes_nothing(xapi, settings):
    settings.LRS_MAX_DOCUMENT_BYTES = 20
    send(xapi, "post", STATE, state(), {"a": "0123456"})
    response = send(xapi, "post", STATE, state(), {"b": "0123456"})
    assert response.status_code == 413
    assert send(xapi, "get", STATE, state()).json() == {"a": "0123456"}


# --- concurrency ----------------------------------------------------------------------------------


def test_1_0_3_put_without_concurrency_headers_overwrites_an_existing_state(xapi):
    send(xapi, "put", STATE, state(), {"v": 1})
    assert send(xapi, "put", STATE, state(), {"v": 2}).status_code == 204
    assert send(xapi, "get", STATE, state()).json() == {"v": 2}


def test_2_0_put_without_concurrency_headers_onto_an_existing_state_is_409_and_changes_nothing(xapi_for):
    client = xapi_for(["all"], version="2.0.0")
    assert send(client, "put", STATE, state(), {"v": 1}).status_code == 204
    response = send(client, "put", STATE, state(), {"v": 2})
    assert response.status_code == 409
    assert "If-Match" in response.json()["message"]
    assert send(client, "get", STATE, state()).json() == {"v": 1}


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_put_with_the_current_etag_in_if_match_replaces_the_state(xapi_for, version):
    client = xapi_for(["all"], version=version)
    send(client, "put", STATE, state(), {"v": 1})
    etag = send(client, "get", STATE, state())["ETag"]
    assert send(client, "put", STATE, state(), {"v": 2}, headers={"If-Match": etag}).status_code == 204
    assert send(client, "get", STATE, state()).json() == {"v": 2}


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_a_stale_if_match_is_412_and_changes_nothing(xapi_for, version, method):
    client = xapi_for(["all"], version=version)
    send(client, "put", STATE, state(), {"v": 1})
    response = send(client, method, STATE, state(), {"v": 2}, headers={"If-Match": '"1234"'})
    assert response.status_code == 412
    assert response.json()["rule"] == "precondition"
    assert send(client, "get", STATE, state()).json() == {"v": 1}


@pytest.mark.parametrize("method", ["post", "delete"])
def test_2_0_post_and_delete_with_the_current_etag_succeed(xapi_for, method):
    client = xapi_for(["all"], version="2.0.0")
    send(client, "put", STATE, state(), {"v": 1})
    etag = send(client, "get", STATE, state())["ETag"]
    assert send(client, method, STATE, state(), {"w": 2}, headers={"If-Match": etag}).status_code == 204


def test_if_match_on_a_missing_state_is_412(xapi):
    response = send(xapi, "put", STATE, state(), {"v": 1}, headers={"If-Match": '"1234"'})
    assert response.status_code == 412
    assert not Document.objects.exists()


def test_if_none_match_star_creates_only_when_no_state_exists(xapi):
    assert send(xapi, "put", STATE, state(), {"v": 1}, headers={"If-None-Match": "*"}).status_code == 204
    response = send(xapi, "put", STATE, state(), {"v": 2}, headers={"If-None-Match": "*"})
    assert response.status_code == 412
    assert send(xapi, "get", STATE, state()).json() == {"v": 1}


def test_malformed_if_match_is_400(xapi):
    send(xapi, "put", STATE, state(), {"v": 1})
    response = send(xapi, "put", STATE, state(), {"v": 2}, headers={"If-Match": '"unterminated'})
    assert response.status_code == 400
    assert response.json()["rule"] == "entity-tag"


def test_multiple_delete_with_an_entity_tag_in_if_match_is_412(xapi):
    send(xapi, "put", STATE, state(), {"v": 1})
    response = send(xapi, "delete", STATE, context(), headers={"If-Match": '"1234"'})
    assert response.status_code == 412
    assert Document.objects.exists()


def test_last_modified_moves_forward_when_the_state_changes(xapi):
    send(xapi, "put", STATE, state(), {"v": 1})
    Document.objects.update(updated=timezone.now() - timedelta(minutes=5))
    first = send(xapi, "get", STATE, state())["Last-Modified"]
    send(xapi, "post", STATE, state(), {"w": 2})
    second = send(xapi, "get", STATE, state())["Last-Modified"]
    from email.utils import parsedate_to_datetime

    assert parsedate_to_datetime(second) > parsedate_to_datetime(first)


# --- scopes and the alternate syntax --------------------------------------------------------------


def test_state_scope_reads_and_writes_state(xapi_for):
    client = xapi_for(["state"])
    assert send(client, "put", STATE, state(), {"v": 1}).status_code == 204
    assert send(client, "get", STATE, state()).status_code == 200
    assert send(client, "delete", STATE, state()).status_code == 204


@pytest.mark.parametrize("granted", [["profile"], ["statements/write"], ["statements/read"], ["define"]])
def test_credentials_without_state_scope_cannot_touch_state(xapi_for, granted):
    client = xapi_for(granted)
    assert send(client, "put", STATE, state(), {"v": 1}).status_code == 403
    assert send(client, "get", STATE, state()).status_code == 403


def test_all_read_can_read_but_not_write_state(xapi, xapi_for):
    send(xapi, "put", STATE, state(), {"v": 1})
    reader = xapi_for(["all/read"])
    assert send(reader, "get", STATE, state()).json() == {"v": 1}
    assert send(reader, "post", STATE, state(), {"v": 2}).status_code == 403
    assert send(reader, "delete", STATE, context()).status_code == 403


def test_alternate_syntax_put_stores_a_state(xapi):
    form = {
        "X-Experience-API-Version": "1.0.3",
        "Authorization": xapi.headers["Authorization"],
        "Content-Type": "application/json",
        "activityId": ACTIVITY_ID,
        "agent": json.dumps(AGENT),
        "stateId": "alt",
        "content": json.dumps({"via": "form"}),
    }
    response = xapi.client.post(
        STATE + "?method=PUT", urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 204, response.content
    assert send(xapi, "get", STATE, state(stateId="alt")).json() == {"via": "form"}


def test_a_stored_value_the_merge_replaces_does_not_stop_it(xapi):
    assert send(xapi, "put", STATE, state(), b'{"far": 1e400, "keep": 1}').status_code == 204
    assert send(xapi, "post", STATE, state(), b'{"far": 2}').status_code == 204
    assert send(xapi, "get", STATE, state()).json() == {"far": 2, "keep": 1}


@pytest.mark.parametrize(
    ("stored", "posted", "path", "rule"),
    [
        (b'{"keep": "me"}', b'{"far": 1e400}', "body.far", "number-range"),
        (b'{"far": -1e400}', b'{"a": 1}', "document.far", "number-range"),
        (b'{"keep": "me"}', b'{"text": "x\\ud800"}', "body.text", "unpaired-surrogate"),
        (b'{"x\\udc00": 1}', b'{"a": 1}', 'document["x\\udc00"]', "unpaired-surrogate"),
    ],
    ids=["posted-number", "stored-number", "posted-surrogate", "stored-surrogate-name"],
)
def test_a_merge_that_could_not_be_written_back_as_json_is_400_and_changes_nothing(
    xapi, stored, posted, path, rule
):
    # A PUT keeps the bytes as sent, valid JSON text; a merge writes its result again, where 1e400
    # became Infinity (not JSON) and an unpaired surrogate a 500.
    assert send(xapi, "put", STATE, state(), stored).status_code == 204
    response = send(xapi, "post", STATE, state(), posted)
    assert response.status_code == 400, response.content
    assert (response.json()["rule"], response.json()["path"]) == (rule, path)
    assert send(xapi, "get", STATE, state()).content == stored

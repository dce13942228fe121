"""Identity mapping: actor -> employee id, the identity API and CSV import, held deliveries."""

from __future__ import annotations

import json

import pytest
import responses
from django.contrib.auth import get_user_model

from adapters.base import DeliveryHeld
from adapters.identity.links import (
    Identifiers,
    IdentityInputError,
    identity_links_import_csv,
    identity_links_upsert,
)
from adapters.identity.resolution import AMBIGUOUS, UNMAPPED, employee_email, employee_for_actor, prefetched
from adapters.models import Delivery, IdentityLink, Target
from tests.conftest import XAPIClient, make_statement

pytestmark = pytest.mark.django_db

PMS = "https://pms.example.com"
TOKEN_URL = "https://pms.example.com/oauth/token"


def link(employee_id: str, *emails: str) -> int:
    return identity_links_upsert(employee_id=employee_id, identifiers=Identifiers(emails=list(emails)))


def test_an_actor_resolves_through_a_normalised_email():
    link("E100", "Ada.Lovelace@Example.com")
    assert employee_for_actor({"mbox": "mailto:ada.lovelace+lms@example.com"}) == "E100"


def test_an_unknown_actor_is_held_as_unmapped():
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor({"mbox": "mailto:nobody@example.com"})
    assert held.value.reason == UNMAPPED and held.value.key == "email:nobody@example.com"


def test_an_address_linked_to_two_employees_is_held_as_ambiguous():
    link("E1", "sam@example.com")
    link("E2", "sam+work@example.com")  # the same address once the alias is stripped
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor({"mbox": "mailto:sam@example.com"})
    assert held.value.reason == AMBIGUOUS and "E1, E2" in held.value.detail


def test_account_actors_and_groups_resolve():
    identity_links_upsert(
        employee_id="E7",
        identifiers=Identifiers(accounts=[{"homePage": "https://hr.example.com", "name": "e7"}]),
    )
    assert employee_for_actor({"account": {"homePage": "https://hr.example.com", "name": "e7"}}) == "E7"
    group = {
        "objectType": "Group",
        "member": [{"account": {"homePage": "https://hr.example.com", "name": "e7"}}],
    }
    assert employee_for_actor(group) == "E7"


def test_an_anonymous_group_resolves_only_when_every_member_is_the_employee():
    """A member nobody is linked to holds the group's statement (by that member's key, so linking
    them releases it): it is not the linked member's alone, and an erasure of them would not take
    it for theirs. Two employees: ambiguous."""
    link("E1", "one@example.com")
    with_unlinked = {
        "objectType": "Group",
        "member": [{"mbox": "mailto:one@example.com"}, {"mbox": "mailto:bee@example.com"}],
    }
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor(with_unlinked)
    assert (held.value.reason, held.value.key) == (UNMAPPED, "email:bee@example.com")
    link("E1", "bee@example.com")
    assert employee_for_actor(with_unlinked) == "E1"
    link("E2", "two@example.com")
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor(
            {**with_unlinked, "member": [*with_unlinked["member"], {"mbox": "mailto:two@example.com"}]}
        )
    assert held.value.reason == AMBIGUOUS


def test_upsert_is_patch_like_and_never_duplicates():
    assert link("E100", "ada@example.com") == 1
    assert link("E100", "ADA@example.com", "ada@work.example.com") == 1
    assert IdentityLink.objects.filter(employee_id="E100").count() == 2


def test_bad_identifiers_name_the_field():
    with pytest.raises(IdentityInputError, match=r"emails\[0\]"):
        link("E1", "not-an-address")
    with pytest.raises(IdentityInputError, match=r"mbox_sha1sums\[0\]"):
        identity_links_upsert(employee_id="E1", identifiers=Identifiers(mbox_sha1sums=["xyz"]))


def test_csv_import_is_idempotent_and_names_bad_lines():
    csv_text = (
        "employee_id,email,account_homepage,account_name\nE1,a@example.com,,\nE2,,https://hr.example.com,e2\n"
    )
    none = {"links_removed": 0, "links_moved": 0}
    assert identity_links_import_csv(csv_text) == {"rows": 2, "links_created": 2, **none}
    assert identity_links_import_csv(csv_text) == {"rows": 2, "links_created": 0, **none}
    with pytest.raises(IdentityInputError, match="line 3: emails"):
        identity_links_import_csv("employee_id,email\nE3,c@example.com\nE4,broken\n")
    assert not IdentityLink.objects.filter(employee_id="E3").exists()  # all or nothing


@pytest.fixture
def identity_client(make_credential):
    credential, secret = make_credential("hris", ["identity/write"])
    return XAPIClient(credential, secret, version="")


def test_identity_api_upserts_by_employee_id(identity_client):
    body = {
        "emails": ["grace@example.com"],
        "accounts": [{"homePage": "https://hr.example.com", "name": "g"}],
    }
    url = "/api/identity/employees/E42"
    first = identity_client.client.patch(
        url, json.dumps(body), content_type="application/json", headers=identity_client.headers
    )
    assert first.status_code == 200 and first.json()["created"] == 2
    again = identity_client.client.patch(
        url, json.dumps(body), content_type="application/json", headers=identity_client.headers
    )
    assert again.json()["created"] == 0 and len(again.json()["links"]) == 2
    listed = identity_client.client.get(url, headers=identity_client.headers)
    assert {entry["kind"] for entry in listed.json()["links"]} == {"email", "account"}


def test_identity_api_needs_credentials_with_the_identity_scope(identity_client, xapi_for):
    url = "/api/identity/employees/E42"
    assert identity_client.client.get(url).status_code == 401
    reader = xapi_for(["statements/read"])
    assert reader.client.get(url, headers=reader.headers).status_code == 403


def test_a_credential_with_all_is_refused_the_identity_api_naming_the_scope_it_lacks(xapi_for):
    """``all`` is unrestricted access to the xAPI resources (Communication 4.2,
    https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#oauth-authorization-scope),
    not the identity map that decides which employee a statement lands on: an LMS's or the
    conformance suite's credential must not re-map people."""
    url = "/api/identity/employees/E42"
    body = json.dumps({"emails": ["grace@example.com"]})
    lms = xapi_for(["all"], version="")
    refused = lms.client.patch(url, body, content_type="application/json", headers=lms.headers)
    assert refused.status_code == 403
    assert "identity/write" in refused.json()["detail"]
    assert not IdentityLink.objects.filter(employee_id="E42").exists()
    hris = xapi_for(["all", "identity/write"], version="")
    granted = hris.client.patch(url, body, content_type="application/json", headers=hris.headers)
    assert granted.status_code == 200
    assert list(IdentityLink.objects.filter(employee_id="E42").values_list("value", flat=True)) == [
        "grace@example.com"
    ]


def test_identity_api_names_the_bad_field(identity_client):
    response = identity_client.client.patch(
        "/api/identity/employees/E1",
        json.dumps({"emails": ["nope"]}),
        content_type="application/json",
        headers=identity_client.headers,
    )
    assert response.status_code == 400 and "emails[0]" in response.json()


@pytest.fixture
def pms_target(monkeypatch) -> Target:
    monkeypatch.setenv("PMS_SECRET", "pms-secret")
    return Target.objects.create(
        name="pms",
        adapter="pms",
        config={
            "base_url": PMS,
            "token_url": TOKEN_URL,
            "client_id": "lrs",
            "client_secret": {"env": "PMS_SECRET"},
        },
    )


@responses.activate
def test_unmapped_learner_is_held_then_delivered_when_the_link_is_imported(
    xapi, pms_target, django_capture_on_commit_callbacks
):
    responses.post(TOKEN_URL, json={"access_token": "t1", "token_type": "Bearer", "expires_in": 3600})
    responses.post(f"{PMS}/api/v1/learning-events", status=201, json={"id": "ev1"})
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements(make_statement(actor_email="new.hire@example.com"))
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.HELD and delivery.last_error.startswith(UNMAPPED)
    assert delivery.attempts == 0 and len(responses.calls) == 0

    with django_capture_on_commit_callbacks(execute=True):
        identity_links_import_csv("employee_id,email\nE555,New.Hire@example.com\n")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    event = json.loads(responses.calls[-1].request.body)
    assert event["employeeId"] == "E555"


@responses.activate
def test_admin_lists_held_deliveries_with_their_conflict(
    xapi, pms_target, client, django_capture_on_commit_callbacks
):
    link("E1", "sam@example.com")
    link("E2", "sam+work@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements(make_statement(actor_email="sam@example.com"))
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    page = client.get("/admin/adapters/identitylink/held/").content.decode()
    assert "email:sam@example.com" in page and AMBIGUOUS in page and "E1, E2" in page
    assert client.get("/admin/adapters/identitylink/").status_code == 200


def test_voiding_a_held_statement_cancels_its_delivery(xapi, pms_target, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [statement_id] = xapi.post_statements(make_statement(actor_email="ghost@example.com")).json()
    voiding = make_statement(
        verb="http://adlnet.gov/expapi/verbs/voided",
        object={"objectType": "StatementRef", "id": statement_id},
    )
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements(voiding)
    assert Delivery.objects.get().status == Delivery.CANCELLED


def test_a_prefetched_batch_resolves_exactly_like_single_lookups_without_further_queries(
    django_assert_num_queries,
):
    link("E1", "sam@example.com")
    link("E2", "sam+work@example.com")
    link("E3", "Ada@Example.com", "ada.second@example.com")
    identity_links_upsert(
        employee_id="E7",
        identifiers=Identifiers(
            emails=["e7@example.com"], accounts=[{"homePage": "https://hr.example.com", "name": "e7"}]
        ),
    )
    actors = [
        {"mbox": "mailto:sam@example.com"},  # ambiguous
        {"mbox": "mailto:ada+lms@example.com"},
        {"mbox": "mailto:nobody@example.com"},  # unmapped
        {"account": {"homePage": "https://hr.example.com", "name": "e7"}},
        {
            "objectType": "Group",
            "member": [{"account": {"homePage": "https://hr.example.com", "name": "e7"}}],
        },
        {"objectType": "Group", "member": []},  # anonymous, no members
    ]

    def resolve_all() -> list[tuple[str, str | None]]:
        results = []
        for actor in actors:
            try:
                employee = employee_for_actor(actor)
                results.append((employee, employee_email(employee)))
            except DeliveryHeld as held:
                results.append((held.reason, held.detail))
        return results

    one_by_one = resolve_all()
    with prefetched(actors), django_assert_num_queries(0):
        assert resolve_all() == one_by_one
    assert one_by_one[1] == ("E3", "Ada@Example.com") and one_by_one[3] == ("E7", "e7@example.com")
    assert [reason for reason, _ in (one_by_one[0], one_by_one[2], one_by_one[5])] == [
        AMBIGUOUS,
        UNMAPPED,
        UNMAPPED,
    ]


def test_an_actor_outside_the_prefetched_batch_is_still_looked_up():
    link("E1", "one@example.com")
    link("E2", "two@example.com")
    with prefetched([{"mbox": "mailto:one@example.com"}]):
        assert employee_for_actor({"mbox": "mailto:two@example.com"}) == "E2"
        assert employee_email("E2") == "two@example.com"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"openids": ["https://id.example.com/" + "a" * 600]}, "openids"),
        ({"emails": ["a" * 600 + "@example.com"]}, "emails"),
        ({"accounts": [{"homePage": "https://hr.example.com", "name": "n" * 600}]}, "accounts"),
        ({"accounts": [{"homePage": "https://hr.example.com/" + "h" * 600, "name": "n"}]}, "accounts"),
    ],
)
def test_identity_api_refuses_an_identifier_too_long_to_link_naming_the_field(identity_client, body, field):
    """An identifier longer than a link holds is a 400 naming it, not a database error (a 500) and
    not a link cut short; nothing is linked."""
    response = identity_client.client.patch(
        "/api/identity/employees/E1",
        json.dumps(body),
        content_type="application/json",
        headers=identity_client.headers,
    )
    assert response.status_code == 400, response.content
    assert field in json.dumps(response.json())
    assert not IdentityLink.objects.exists()


def test_identity_api_refuses_an_employee_id_too_long_naming_it(identity_client):
    response = identity_client.client.patch(
        "/api/identity/employees/" + "E" * 201,
        json.dumps({"emails": ["grace@example.com"]}),
        content_type="application/json",
        headers=identity_client.headers,
    )
    assert response.status_code == 400, response.content
    assert "employee_id" in json.dumps(response.json())
    assert not IdentityLink.objects.exists()


def test_identity_api_refuses_a_move_from_an_employee_id_too_long_naming_from(identity_client):
    """``from`` longer than an employee id holds is a 400 naming ``from`` (the field the caller
    gave), not the employee of the path, which is fine."""
    response = identity_client.client.patch(
        "/api/identity/employees/E1",
        json.dumps({"from": "F" * 201, "emails": ["grace@example.com"]}),
        content_type="application/json",
        headers=identity_client.headers,
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["from"], response.json()

"""The identity admin: unlinking and moving identifiers go through the identity services (so the
history records who did it and the deliveries made under the old mapping), links are never edited
in place, employees and the history are read-only, and held deliveries can be released."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, Employee, IdentityChange, IdentityLink
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client):
    client.force_login(
        get_user_model().objects.create_superuser("hr-admin", "hr@example.com", "pw-for-tests")
    )
    return client


def test_deleting_a_link_in_the_admin_unlinks_it_through_the_history(admin):
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["a@example.com", "b@example.com"])
    )
    link = IdentityLink.objects.get(value="a@example.com")
    page = admin.post(
        "/admin/adapters/identitylink/",
        {"action": "delete_selected", "_selected_action": [link.pk], "post": "yes"},
        follow=True,
    )
    assert page.status_code == 200
    assert list(IdentityLink.objects.values_list("value", flat=True)) == ["b@example.com"]
    change = IdentityChange.objects.get(action=IdentityChange.LINK_REMOVED)
    assert (change.employee_id, change.changed_by, change.source) == ("E1", "admin:hr-admin", "admin")


def test_the_move_action_asks_for_the_employee_then_moves_and_releases(
    admin, pms_target, django_capture_on_commit_callbacks
):
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=["sam@example.com"]))
    identity_links_upsert(employee_id="E2", identifiers=Identifiers(emails=["sam@example.com"]))
    store_now(
        django_capture_on_commit_callbacks, make_statement(actor_email="sam@example.com", activity=COURSE)
    )
    assert Delivery.objects.get(target__name="pms").status == Delivery.HELD
    link = IdentityLink.objects.get(employee_id="E1", value="sam@example.com")
    form = admin.post(
        "/admin/adapters/identitylink/", {"action": "move_to_employee", "_selected_action": [link.pk]}
    )
    assert form.status_code == 200 and b"to_employee_id" in form.content
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(
            "/admin/adapters/identitylink/",
            {"action": "move_to_employee", "_selected_action": [link.pk], "to_employee_id": "E2"},
        )
    assert done.status_code == 302
    assert next(str(m) for m in done.wsgi_request._messages).startswith("moved 1 identifiers to E2")
    assert list(
        IdentityLink.objects.filter(value="sam@example.com").values_list("employee_id", flat=True)
    ) == ["E2"]
    assert Delivery.objects.get(target__name="pms").status == Delivery.DELIVERED
    assert [event["employeeId"] for event in pms_target.events().values()] == ["E2"]


def test_links_employees_and_the_history_cannot_be_edited_in_place(admin):
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=["a@example.com"]))
    Employee.objects.create(employee_id="E1")
    link, change = IdentityLink.objects.get(), IdentityChange.objects.get()
    assert (
        admin.post(f"/admin/adapters/identitylink/{link.pk}/change/", {"employee_id": "E9"}).status_code
        == 403
    )
    assert admin.get("/admin/adapters/employee/").status_code == 200
    assert admin.get("/admin/adapters/employee/add/").status_code == 403
    history = admin.get("/admin/adapters/identitychange/").content.decode()
    assert "email:a@example.com" in history and "identifier linked" in history
    assert (
        admin.post(f"/admin/adapters/identitychange/{change.pk}/delete/", {"post": "yes"}).status_code == 403
    )


def test_held_deliveries_can_be_released_from_the_delivery_list(
    admin, pms_target, django_capture_on_commit_callbacks
):
    store_now(
        django_capture_on_commit_callbacks, make_statement(actor_email="ghost@example.com", activity=COURSE)
    )
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.HELD
    identity_links_upsert(employee_id="E5", identifiers=Identifiers(emails=["ghost@example.com"]))
    # (the link released it already; hold it again as if by a termination, then release by hand)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.HELD, held_key="terminated:E5")
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/admin/adapters/delivery/", {"action": "release_held", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED


def test_an_admin_can_cancel_a_held_delivery_instead(admin, pms_target, django_capture_on_commit_callbacks):
    store_now(
        django_capture_on_commit_callbacks, make_statement(actor_email="ghost@example.com", activity=COURSE)
    )
    delivery = Delivery.objects.get()
    admin.post("/admin/adapters/delivery/", {"action": "cancel", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == Delivery.CANCELLED and pms_target.events() == {}


def test_the_held_report_waits_for_the_identifier_not_the_digest_of_a_long_one(
    admin, pms_target, django_capture_on_commit_callbacks
):
    """A key longer than ``Delivery.held_key`` holds is kept as its SHA-256 digest
    (``adapters.rules.keys.held_key_of``); the report names the identifier it stands for."""
    account = {"homePage": "https://lms.example.com", "name": "n" * 520}
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(activity=COURSE, actor={"objectType": "Agent", "account": account}),
    )
    page = admin.get("/admin/adapters/identitylink/held/").content.decode()
    assert "sha256:" not in page
    assert f"account::https://lms.example.com::{'n' * 520}" in page

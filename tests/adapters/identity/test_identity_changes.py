"""Identifiers that move: removed from an employee or moved to another (identity API, CSV import),
each change in the append-only history; held deliveries resolved again; deliveries made under
the old mapping reported, never rewritten. Terminations hold a leaver's statements; the HRIS
manager travels in the PMS event; no target needs an e-mail address the links do not give."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest

from adapters.identity.holds import deliveries_release, identity_conflicts
from adapters.identity.links import (
    Identifiers,
    IdentityInputError,
    identity_links_import_csv,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.identity.resolution import AMBIGUOUS, TERMINATED
from adapters.models import Delivery, Employee, IdentityChange, IdentityLink, Target
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

SAM = "sam@example.com"


def completion(email: str = "learner@example.com", **extra) -> dict:
    return make_statement(actor_email=email, activity=COURSE, **{"result": {"completion": True}, **extra})


@pytest.fixture
def identity_api(client, make_credential):
    credential, secret = make_credential("hr-sync", ["identity/write"])
    auth = "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()

    def call(method: str, path: str, body: object = None, **headers: str):
        return getattr(client, method)(
            path, body, content_type="application/json", headers={"Authorization": auth, **headers}
        )

    return call


def test_moving_an_email_releases_the_new_employees_held_deliveries_and_reports_the_old_ones(
    pms_target, django_capture_on_commit_callbacks
):
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=[SAM]))
    [first] = store_now(django_capture_on_commit_callbacks, completion(SAM))
    assert [event["employeeId"] for event in pms_target.events().values()] == ["E1"]
    # A recycled address: linked to the new joiner E2 too, so the next statement is ambiguous.
    identity_links_upsert(employee_id="E2", identifiers=Identifiers(emails=[SAM]), source="admin")
    [second] = store_now(django_capture_on_commit_callbacks, completion(SAM))
    held = Delivery.objects.get(statement__statement_id=second)
    assert held.status == Delivery.HELD and held.last_error.startswith(AMBIGUOUS)

    with django_capture_on_commit_callbacks(execute=True):
        [moved] = identity_links_move(
            identifiers=Identifiers(emails=[SAM]), from_employee_id="E1", to_employee_id="E2", changed_by="hr"
        )
    held.refresh_from_db()
    assert held.status == Delivery.DELIVERED
    by_statement = {event["statementId"]: event["employeeId"] for event in pms_target.events().values()}
    # E1's event stays as it was (reported, not rewritten); the held one went to E2.
    assert by_statement == {first: "E1", second: "E2"}
    assert moved.delivered_under_previous == [["pms", first]]
    change = IdentityChange.objects.get(action=IdentityChange.LINK_MOVED)
    assert (change.employee_id, change.changed_by, change.identifier) == ("E2", "hr", f"email:{SAM}")
    assert change.before["employee_id"] == "E1" and change.after["employee_id"] == "E2"
    assert change.delivered_under_previous == [["pms", first]]
    assert list(
        IdentityLink.objects.filter(lookup_key=f"email:{SAM}").values_list("employee_id", flat=True)
    ) == ["E2"]


def test_removing_an_identifier_not_linked_to_the_employee_removes_nothing_and_names_it():
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["a@example.com", "b@example.com"])
    )
    with pytest.raises(IdentityInputError, match=r"c@example\.com not linked to employee E1"):
        identity_links_remove(
            employee_id="E1", identifiers=Identifiers(emails=["a@example.com", "c@example.com"])
        )
    assert IdentityLink.objects.filter(employee_id="E1").count() == 2
    [removed] = identity_links_remove(employee_id="E1", identifiers=Identifiers(emails=["A@example.com"]))
    assert removed.identifier == "email:a@example.com" and removed.delivered_under_previous == []
    assert list(IdentityLink.objects.values_list("value", flat=True)) == ["b@example.com"]
    assert IdentityChange.objects.filter(action=IdentityChange.LINK_REMOVED, employee_id="E1").count() == 1


def test_the_identity_api_deletes_moves_records_who_and_refuses_unknown_fields(identity_api):
    path = "/api/identity/employees/E1"
    assert identity_api("patch", path, {"emails": [SAM]}).status_code == 200
    typo = identity_api("patch", path, {"email": [SAM]})
    assert typo.status_code == 400 and typo.json() == {"email": ["unknown field"]}
    moved = identity_api("patch", "/api/identity/employees/E2", {"emails": [SAM], "from": "E1"})
    assert moved.status_code == 200, moved.content
    assert moved.json()["moved"] == [{"identifier": f"email:{SAM}", "delivered_under_previous": []}]
    assert [link["value"] for link in moved.json()["links"]] == [SAM]
    wrong = identity_api("delete", path, {"emails": [SAM]})  # E1 no longer has it
    assert wrong.status_code == 400 and "not linked to employee E1" in str(wrong.json())
    gone = identity_api("delete", "/api/identity/employees/E2", {"emails": [SAM]})
    assert gone.status_code == 200 and gone.json()["links"] == []
    actions = list(IdentityChange.objects.order_by("id").values_list("action", "employee_id", "changed_by"))
    assert actions == [
        ("link_added", "E1", "credential:hr-sync"),
        ("link_moved", "E2", "credential:hr-sync"),
        ("link_removed", "E2", "credential:hr-sync"),
    ]


def test_the_history_is_append_only():
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=[SAM]))
    change = IdentityChange.objects.get()
    change.changed_by = "someone else"
    with pytest.raises(ValueError, match="append-only"):
        change.save()


def test_a_csv_import_moves_and_removes_with_the_action_column():
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=[SAM, "old@example.com"]))
    counts = identity_links_import_csv(
        "employee_id,email,action,from_employee_id\n"
        f"E2,{SAM},move,E1\n"
        "E1,old@example.com,remove,\n"
        "E3,new@example.com,,\n"
    )
    assert counts == {"rows": 3, "links_created": 1, "links_removed": 1, "links_moved": 1}
    assert dict(IdentityLink.objects.values_list("value", "employee_id")) == {
        SAM: "E2",
        "new@example.com": "E3",
    }
    with pytest.raises(IdentityInputError, match="line 2: from_employee_id: required"):
        identity_links_import_csv("employee_id,email,action\nE2,x@example.com,move\n")


def terminate(employee_id: str, on: date) -> None:
    Employee.objects.update_or_create(
        employee_id=employee_id,
        defaults={"status": Employee.TERMINATED, "effective_date": on, "terminated_on": on},
    )


def test_a_leavers_statements_from_the_leaving_date_are_held_as_terminated_and_reported(
    pms_target, django_capture_on_commit_callbacks
):
    today = date.today()
    terminate("E100", today - timedelta(days=1))  # the fixture links learner@example.com to E100
    before_leaving = (today - timedelta(days=3)).isoformat() + "T09:00:00Z"
    [old, new] = store_now(
        django_capture_on_commit_callbacks, completion(timestamp=before_leaving), completion()
    )
    assert Delivery.objects.get(statement__statement_id=old).status == Delivery.DELIVERED
    held = Delivery.objects.get(statement__statement_id=new)
    assert held.status == Delivery.HELD and held.last_error.startswith(TERMINATED)
    assert held.held_key == "terminated:E100"
    assert [event["statementId"] for event in pms_target.events().values()] == [old]
    [group] = identity_conflicts()
    assert (group.reason, group.deliveries, group.key) == (TERMINATED, 1, "terminated:E100")

    # A re-hire releases nothing by itself; an admin's release sends it.
    Employee.objects.filter(employee_id="E100").update(status=Employee.ACTIVE, terminated_on=None)
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    held.refresh_from_db()
    assert held.status == Delivery.HELD
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_release(ids=[held.id]) == [held.id]
    held.refresh_from_db()
    assert held.status == Delivery.DELIVERED and len(pms_target.events()) == 2


def test_a_target_that_opts_in_receives_a_leavers_statements(pms_target, django_capture_on_commit_callbacks):
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "include_terminated": True})
    terminate("E100", date.today() - timedelta(days=30))
    store_now(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.get().status == Delivery.DELIVERED and len(pms_target.events()) == 1


def test_the_pms_event_carries_the_hris_manager(pms_target, django_capture_on_commit_callbacks):
    Employee.objects.create(employee_id="E100", manager_id="M7", department="Dept-Forklifts")
    store_now(django_capture_on_commit_callbacks, completion())
    [event] = pms_target.events().values()
    assert event["managerId"] == "M7" and "Dept-Forklifts" not in str(event)


def test_pms_and_marketplace_resolve_an_employee_known_only_by_account(
    pms_target, market_target, django_capture_on_commit_callbacks
):
    account = {"homePage": "https://lms.example.com", "name": "u-42"}
    identity_links_upsert(employee_id="E42", identifiers=Identifiers(accounts=[account]))
    statement = completion(result={"completion": True, "score": {"scaled": 0.95}})
    statement["actor"] = {"objectType": "Agent", "account": account}
    store_now(django_capture_on_commit_callbacks, statement)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    [event] = pms_target.events().values()
    assert event["employeeId"] == "E42"
    assert ("E42", "SAFETY-BASICS") in market_target.skills()

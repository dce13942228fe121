"""Erasure's edges: every spelling of an employee's address the store holds is erased; a leaver
the feed unlinked can still be erased; an erasure that fails half-way leaves nothing changed; a
retraction that cannot be made keeps the statements (never deleted behind it); a PMS that
records retraction events, or a chat target told to retract or notify, is reported as such rather
than silently skipped or counted as done."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from adapters.delivery.replay import deliveries_cancel
from adapters.identity.hris import hris_import, rows_from_text
from adapters.identity.links import (
    Identifiers,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.identity.resolution import email_lookup_key
from adapters.models import Delivery, Employee, ErasureRequest, IdentityChange, IdentityLink, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement, StatementAgent
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion(email: str = "learner@example.com") -> dict:
    return make_statement(actor_email=email, activity=COURSE, result={"completion": True})


def test_every_spelling_of_the_employees_address_is_erased(pms_target, django_capture_on_commit_callbacks):
    sha1 = __import__("hashlib").sha1(b"mailto:learner@example.com").hexdigest()
    hashed = make_statement(activity=COURSE, result={"completion": True})
    hashed["actor"] = {"objectType": "Agent", "mbox_sha1sum": sha1}
    store_now(
        django_capture_on_commit_callbacks,
        completion("learner+lms@example.com"),
        completion("Learner@example.com"),
        hashed,
        completion("someone.else@example.com"),
    )
    erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    left = set(StatementAgent.objects.values_list("agent_ifi", flat=True))
    named = {ifi for ifi in left if not ifi.startswith("account::http://localhost:8000/pseudonyms::")}
    assert named == {"mbox::mailto:someone.else@example.com"}  # the three spellings: pseudonyms now
    for trace in ("learner@example.com", "learner+lms@example.com", sha1):
        assert not Statement.objects.filter(payload__icontains=trace).exists(), trace


def test_a_leaver_the_feed_unlinked_can_still_be_erased_and_no_history_names_them():
    identity_links_upsert(employee_id="E5", identifiers=Identifiers(emails=["gone@example.com"]))
    identity_links_remove(employee_id="E5", identifiers=Identifiers(emails=["gone@example.com"]))
    Employee.objects.create(employee_id="E5", status="terminated", manager_id="M1")
    Employee.objects.create(employee_id="E6", manager_id="E5")
    outcome = erase_subject(subject_for(employee_id="E5"), mode="delete", requested_by="dpo")
    assert outcome.request.counts["employees"] == 1
    assert not IdentityChange.objects.filter(identifier="email:gone@example.com").exists()
    assert Employee.objects.get(employee_id="E6").manager_id == ""


def test_an_agent_erasure_removes_the_history_rows_naming_the_identifier():
    identity_links_upsert(employee_id="E7", identifiers=Identifiers(emails=["pat@example.com"]))
    erase_subject(subject_for(agent={"mbox": "mailto:pat@example.com"}), mode="delete", requested_by="dpo")
    assert not IdentityChange.objects.filter(identifier="email:pat@example.com").exists()


def test_an_erased_employee_is_named_in_no_history_row_kept_under_another_employee():
    """A move is filed under the employee it went to, naming the one it came from (``before``); an
    HRIS row names a manager. Erasing that employee deletes their own history and blanks them where
    another's employee record names them: the rows kept under the other must not name them either.
    (Their identifier here was linked before the identity history existed: no row of theirs names
    it, so the move's row is not found by it.)"""
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=["e1@example.com"]))
    IdentityLink.objects.create(
        employee_id="E1",
        kind="email",
        value="desk@example.com",
        lookup_key=email_lookup_key("desk@example.com"),
        source="admin",
    )
    Employee.objects.create(employee_id="E1")
    text = "employee_id,emails,accounts,status,effective_date,manager_id,department\nE6,,,active,,E1,Safety\n"
    hris_import(rows_from_text(text, jsonl=False))
    identity_links_move(
        identifiers=Identifiers(emails=["desk@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )

    erase_subject(subject_for(employee_id="E1"), mode="delete", requested_by="dpo")

    kept = list(IdentityChange.objects.values("employee_id", "action", "before", "after"))
    assert '"E1"' not in json.dumps(kept), kept
    # The others' rows stay: E2's identifier came to them, E6 was hired.
    assert sorted((row["employee_id"], row["action"]) for row in kept) == [
        ("E2", "link_moved"),
        ("E6", "employee_created"),
    ]
    assert Employee.objects.get(employee_id="E6").manager_id == ""


def test_an_employee_named_only_in_anothers_history_can_be_erased_and_is_then_named_nowhere():
    """An employee whose one identifier was linked before the identity history existed, and moved
    to another employee since, with no HRIS record (links made through the identity API): the move's
    row, filed under the other, still names them (``before``). They must be erasable by their
    employee id, the erasure blanking them there as it does for an employee with other records;
    refused as unknown ("no identifier is linked"), the row named them for good."""
    IdentityLink.objects.create(
        employee_id="E1",
        kind="email",
        value="desk@example.com",
        lookup_key=email_lookup_key("desk@example.com"),
        source="admin",
    )
    identity_links_move(
        identifiers=Identifiers(emails=["desk@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )

    erase_subject(subject_for(employee_id="E1"), mode="delete", requested_by="dpo")

    kept = list(IdentityChange.objects.values("employee_id", "action", "before", "after"))
    assert '"E1"' not in json.dumps(kept), kept
    assert [(row["employee_id"], row["action"]) for row in kept] == [("E2", "link_moved")]


def test_an_erasure_that_fails_half_way_changes_nothing(xapi):
    xapi.post_statements(make_statement(actor_email="pat@example.com"))
    before = Statement.objects.values_list("payload", flat=True).get()
    with (
        mock.patch("adapters.privacy.erasure.documents_of_agents_delete", side_effect=RuntimeError("disk")),
        pytest.raises(RuntimeError),
    ):
        erase_subject(
            subject_for(agent={"mbox": "mailto:pat@example.com"}), mode="delete", requested_by="dpo"
        )
    assert Statement.objects.values_list("payload", flat=True).get() == before
    assert not ErasureRequest.objects.exists()
    outcome = erase_subject(
        subject_for(agent={"mbox": "mailto:pat@example.com"}), mode="delete", requested_by="dpo"
    )
    assert outcome.request.counts["own_statements"] == 1 and not Statement.objects.exists()


def test_statements_wait_while_a_retraction_is_stuck_and_go_once_it_is_settled(
    pms_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion())
    outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")  # not drained
    retraction = Delivery.objects.get(kind="retract")
    Delivery.objects.filter(pk=retraction.pk).update(status=Delivery.DEAD)
    assert finish_erasures() == 0
    request = ErasureRequest.objects.get(pk=outcome.request.pk)
    assert request.status == ErasureRequest.RETRACTING and request.counts["retractions_waiting"] == {
        "dead": 1
    }
    assert Statement.objects.exists()
    assert deliveries_cancel(delivery_ids=[retraction.pk]) == 1  # an admin gives it up (admin Cancel)
    assert finish_erasures() == 1 and not Statement.objects.exists()


def test_a_pms_recording_retraction_events_is_reported_not_retractable(
    pms_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "retraction": "event"})
    store_now(django_capture_on_commit_callbacks, completion())
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    assert "cannot retract" in outcome.request.targets["pms"]["note"]
    assert not Delivery.objects.filter(kind="retract").exists()
    assert outcome.request.status == ErasureRequest.DONE
    assert "learner@example.com" not in json.dumps(outcome.request.targets)


@pytest.mark.parametrize(
    ("policy", "said"), [("retract", "cannot retract"), ("notify", "takes no erasure notice")]
)
def test_a_chat_target_told_to_retract_or_notify_is_reported_unable_not_done(
    slack_target, django_capture_on_commit_callbacks, policy, said
):
    """Slack's announcement stays (this LRS removes no message), so the request must not count a
    retraction or a notice there: it says so, for an admin to erase there by hand."""
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "on_erasure": policy})
    statement = completion()
    statement["actor"]["name"] = "Alice Example"
    store_now(django_capture_on_commit_callbacks, statement)
    assert any("Alice Example" in message["text"] for message in slack_target.messages())
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    entry = outcome.request.targets["slack"]
    assert entry["retractions"] == 0 and said in entry["note"] and "notice" not in entry
    assert "notified" not in entry and not Delivery.objects.filter(kind="retract").exists()
    assert outcome.request.status == ErasureRequest.DONE


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_an_anonymous_group_of_the_person_alone_is_theirs_and_its_effects_are_retracted(
    pms_target, django_capture_on_commit_callbacks, mode
):
    """The fan-out resolves an anonymous Group of one person to that person (its PMS event names
    them), so an erasure treats it as one of their own statements and retracts its effects."""
    alone = completion()
    alone["actor"] = {"objectType": "Group", "member": [alone["actor"]]}
    [statement_id] = store_now(django_capture_on_commit_callbacks, alone)
    assert [event["employeeId"] for event in pms_target.events().values()] == ["E100"]
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")
    assert pms_target.events() == {}
    assert outcome.request.counts["own_statements"] == 1
    finish_erasures()  # the sweep's next pass, once the retraction landed
    assert mode == "pseudonymise" or not Statement.objects.filter(statement_id=statement_id).exists()


def test_a_leaver_the_feed_unlinked_is_erased_with_the_statements_by_the_sha1_of_their_address_as_linked(
    pms_target, django_capture_on_commit_callbacks
):
    """While linked, an address's SHA-1 forms resolve to its employee, the address as linked among
    them (``adapters.identity.digests``): such statements are delivered as the employee's. Once the
    feed unlinked the address, the employee's erasure must still find them (README "Erasure": a
    leaver the feed unlinked is found, with the SHA-1 form), though no statement names the address
    itself for the store to spell it from."""
    header = "employee_id,emails,accounts,status,effective_date,manager_id,department\n"
    hris_import(rows_from_text(header + "E8,Grace.Hopper@Example.com,,active,,,\n", jsonl=False))
    sha1 = __import__("hashlib").sha1(b"mailto:Grace.Hopper@Example.com").hexdigest()
    hashed = make_statement(activity=COURSE, result={"completion": True})
    hashed["actor"] = {"objectType": "Agent", "mbox_sha1sum": sha1}
    store_now(django_capture_on_commit_callbacks, hashed)
    assert [event["employeeId"] for event in pms_target.events().values()] == ["E8"]
    hris_import(rows_from_text(header + "E8,,,terminated,2026-11-30,,\n", jsonl=False))
    assert not IdentityLink.objects.filter(employee_id="E8").exists()

    erase_subject(subject_for(employee_id="E8"), mode="delete", requested_by="dpo")

    assert not Statement.objects.filter(payload__icontains=sha1).exists()
    assert not StatementAgent.objects.filter(agent_ifi=f"mbox_sha1sum::{sha1}").exists()

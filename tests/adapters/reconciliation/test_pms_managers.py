"""Reconciliation against the fake PMS when the HRIS feed changes a learner's manager after their
event was sent: each event carries the manager the feed gives (``managerId``, adapters/pms/
adapter.py), so an event naming another manager, or one the feed no longer gives, is reported
different and its repair replaces it; after a manager's erasure the LRS names them nowhere, and a
run, once repaired, is stable (README "Reconciliation and alerts", "Privacy")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.base import DeliveryContext
from adapters.identity.hris import hris_import, rows_from_text
from adapters.models import Employee, IdentityChange, ReconciliationRun, Target
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from adapters.reconciliation.run import reconcile
from adapters.registry import adapter_for
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

HEADER = "employee_id,emails,accounts,status,effective_date,manager_id,department\n"


def feed(*rows: str) -> None:
    """The HRIS delta feed (``import_hris``) applies these CSV rows."""
    results = hris_import(rows_from_text(HEADER + "".join(f"{row}\n" for row in rows), jsonl=False))
    assert {result.result for result in results} <= {"created", "updated", "unchanged"}, results


def completion() -> dict:
    return make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.9}},
    )


def run_now(capture, *, repair: bool = False) -> ReconciliationRun:
    now = timezone.now()
    with capture(execute=True):  # repairs are queued after commit and, here, drained eagerly
        return reconcile(
            target=Target.objects.get(name="pms"),
            since=now - timedelta(hours=1),
            until=now + timedelta(minutes=1),
            repair=repair,
        )


def managers_held(pms, statement_id: str) -> list[str | None]:
    """The ``managerId`` of each event the PMS holds for the statement (None: it names none)."""
    return [e.get("managerId") for e in pms.events().values() if e["statementId"] == statement_id]


def drift(run: ReconciliationRun) -> tuple[int, int, int]:
    return run.counts["missing"], run.counts["extra"], run.counts["different"]


@pytest.mark.parametrize(("manager_now", "held_after_repair"), [("M2", ["M2"]), ("", [None])])
def test_an_event_sent_before_the_hris_changed_the_manager_is_different_and_repaired_to_the_feeds_manager(
    pms_target, django_capture_on_commit_callbacks, manager_now, held_after_repair
):
    feed("E100,learner@example.com,,active,,M1,")
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    assert managers_held(pms_target, statement_id) == ["M1"]
    feed(f"E100,learner@example.com,,active,,{manager_now},")

    found = run_now(django_capture_on_commit_callbacks, repair=True)
    [mismatch] = found.mismatches
    assert (mismatch["kind"], mismatch["key"]) == ("different", statement_id)
    assert (mismatch["expected"].get("managerId") or "", mismatch["found"]["managerId"]) == (
        manager_now,
        "M1",
    )
    assert drift(found) == (0, 0, 1) and found.counts["repaired"] == 1
    assert managers_held(pms_target, statement_id) == held_after_repair

    again = run_now(django_capture_on_commit_callbacks, repair=True)
    assert drift(again) == (0, 0, 0) and again.counts["repaired"] == 0, again.mismatches


def test_pseudonymise_compares_and_repairs_the_managers_pseudonym(
    pms_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "pseudonymise": True})
    adapter = adapter_for("pms", {**target.config, "pseudonymise": True})
    context = DeliveryContext(target_name="pms", kind="deliver", idempotency_key="")
    feed("E100,learner@example.com,,active,,M1,")
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    assert managers_held(pms_target, statement_id) == [adapter.pseudonym("M1", context)]
    assert drift(run_now(django_capture_on_commit_callbacks)) == (0, 0, 0)  # the pseudonyms agree

    feed("E100,learner@example.com,,active,,M2,")
    found = run_now(django_capture_on_commit_callbacks, repair=True)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("different", statement_id)]
    assert managers_held(pms_target, statement_id) == [adapter.pseudonym("M2", context)]
    assert "M2" not in str(pms_target.events())
    assert drift(run_now(django_capture_on_commit_callbacks)) == (0, 0, 0)


def test_after_a_managers_erasure_a_repair_leaves_their_reports_events_naming_none_and_then_nothing(
    pms_target, django_capture_on_commit_callbacks
):
    """The erasure blanks the manager in their reports' employee records and HRIS history rows
    (adapters/identity/history.py ``employee_erased``): the LRS names them nowhere, so the event
    the adapter would send now names no manager, and the PMS's events naming them are different,
    once: their repair sends them without, and the next run matches."""
    feed("M1,boss@example.com,,active,,,", "E100,learner@example.com,,active,,M1,")
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    assert managers_held(pms_target, statement_id) == ["M1"]
    assert drift(run_now(django_capture_on_commit_callbacks)) == (0, 0, 0)

    erase_subject(subject_for(employee_id="M1"), mode="delete", requested_by="dpo")
    assert Employee.objects.get(employee_id="E100").manager_id == ""
    assert "M1" not in str(list(IdentityChange.objects.values_list("before", "after")))

    found = run_now(django_capture_on_commit_callbacks, repair=True)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("different", statement_id)]
    assert managers_held(pms_target, statement_id) == [None]
    for _ in range(2):
        again = run_now(django_capture_on_commit_callbacks, repair=True)
        assert drift(again) == (0, 0, 0) and again.counts["repaired"] == 0, again.mismatches


def test_a_terminated_employees_event_follows_the_manager_of_the_termination_row(
    pms_target, django_capture_on_commit_callbacks
):
    """Their statements from before the termination stay expected (only later ones are held), with
    the manager the feed gives now."""
    feed("E100,learner@example.com,,active,,M1,")
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    feed(f"E100,learner@example.com,,terminated,{tomorrow},M2,")

    found = run_now(django_capture_on_commit_callbacks, repair=True)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("different", statement_id)]
    assert managers_held(pms_target, statement_id) == ["M2"]
    assert drift(run_now(django_capture_on_commit_callbacks)) == (0, 0, 0)


def test_a_pms_keeping_history_is_not_read_back_so_a_manager_change_is_neither_reported_nor_repaired(
    pms_target, django_capture_on_commit_callbacks
):
    """``retraction: "event"``: reconciled by our deliveries, which do not record whom an event
    named (adapters/pms/adapter.py): the event stays as sent, and no run repairs it over and over."""
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "retraction": "event"})
    feed("E100,learner@example.com,,active,,M1,")
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    feed("E100,learner@example.com,,active,,M2,")
    for _ in range(2):
        found = run_now(django_capture_on_commit_callbacks, repair=True)
        assert not found.read_back and drift(found) == (0, 0, 0) and found.counts["repaired"] == 0
    assert managers_held(pms_target, statement_id) == ["M1"]

"""An erasure after a pseudonymising retention: the person's statements retention aged out are
on a keyed pseudonym of their identifiers (``<LRS_PSEUDONYM_HOMEPAGE>/retention``), which the
LRS can still link to them, and their effects stay at the targets (README "Retention": "Erase
a person (above) to remove their effects everywhere"). The erasure finds those statements by the
pseudonyms retention gave the person's identifiers, and treats them as the person's own: the PMS
loses their events too, and the LRS keeps no pseudonym of retention's that points back to them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import ErasureRequest, SkillRecord, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.retention import Policy, apply_retention, retention_pseudonym
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement, StatementAgent
from lrs.xapi.agents import agent_ifi
from tests.adapters.helpers import COURSE, reconcile_now, store_now
from tests.adapters.privacy.test_export import export_command, lines
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then

pytestmark = pytest.mark.django_db

LEARNER = "learner@example.com"
ACCOUNT = {"homePage": "https://lms.example.com", "name": "ada-100"}


def completion() -> dict:
    result = {"completion": True, "score": {"scaled": 0.9}}
    return make_statement(actor_email=LEARNER, activity=COURSE, result=result)


def aged_out_and_new(capture, pms) -> tuple[str, str]:
    """Two of the learner's statements delivered to the PMS; a pseudonymising retention, the
    clock 30 days past the second's stored time, ages out the first."""
    [old] = store_now(capture, completion())
    [new] = store_now(capture, completion())
    cutoff = Statement.objects.get(statement_id=new).stored
    apply_retention(
        policy=Policy(statement_days=30, mode="pseudonymise", attempt_body_days=0),
        now=cutoff + timedelta(days=30),
    )
    assert LEARNER not in Statement.objects.get(statement_id=old).payload
    assert sorted(event["statementId"] for event in pms.events().values()) == sorted([old, new])
    return old, new


def retention_ifi() -> str:
    return agent_ifi({"account": retention_pseudonym(f"mbox::mailto:{LEARNER}")})


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
@pytest.mark.parametrize("named_by", ["employee_id", "agent"])
def test_the_pms_loses_the_events_of_statements_retention_pseudonymised(
    pms_target, django_capture_on_commit_callbacks, mode, named_by
):
    capture = django_capture_on_commit_callbacks
    old, _new = aged_out_and_new(capture, pms_target)
    assert StatementAgent.objects.filter(agent_ifi=retention_ifi()).exists()  # retention's pseudonym
    subject = (
        subject_for(employee_id="E100")
        if named_by == "employee_id"
        else subject_for(agent={"mbox": f"mailto:{LEARNER}"})
    )

    with capture(execute=True):
        outcome = erase_subject(subject, mode=mode, requested_by="dpo")
    finish_erasures()

    assert pms_target.events() == {}
    assert len(pms_target.requests_for("learning-events.retract")) == 2
    assert outcome.request.counts["own_statements"] == 2
    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    # Nothing left under the pseudonym retention gave them, which the LRS could link back.
    assert not StatementAgent.objects.filter(agent_ifi=retention_ifi()).exists()
    if mode == "delete":
        assert not Statement.objects.exists()
    else:
        assert Statement.objects.filter(statement_id=old).exists()
    run = reconcile_now(capture, "pms")
    assert (run.counts["missing"], run.counts["extra"]) == (0, 0), run.mismatches


def test_a_dry_run_counts_the_statements_retention_pseudonymised(
    pms_target, django_capture_on_commit_callbacks
):
    aged_out_and_new(django_capture_on_commit_callbacks, pms_target)

    plan = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo", dry_run=True)

    assert len(plan.own_statements) == 2
    assert plan.retractions == {"pms": 2}


def test_a_webhook_backfilled_after_retention_is_told_the_pseudonym_it_was_sent(
    webhook_target, monkeypatch, django_capture_on_commit_callbacks
):
    """A webhook added after the retention and backfilled holds the aged-out statement under its
    own pseudonym of retention's: the erasure's notice names that one too, so the receiver can
    find it (``notice_for``)."""
    capture = django_capture_on_commit_callbacks
    [old] = store_now(capture, make_statement(actor_email="nobody@example.com", activity=COURSE))
    cutoff = Statement.objects.get(statement_id=old).stored
    apply_retention(
        policy=Policy(statement_days=30, mode="pseudonymise", attempt_body_days=0),
        now=cutoff + timedelta(days=31),
    )
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    hook = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    with capture(execute=True):
        backfill(target=hook)
    [stored] = [e for e in webhook_target.effects() if e["event"] == "statement.stored"]

    with capture(execute=True):
        erase_subject(
            subject_for(agent={"mbox": "mailto:nobody@example.com"}), mode="delete", requested_by="dpo"
        )
    finish_erasures()

    [erased] = [e for e in webhook_target.effects() if e["event"] == "actor.erased"]
    assert stored["actor"]["pseudonym"] in erased["actor"]["pseudonyms"], (stored, erased)


@pytest.mark.parametrize(
    "args", [("--employee-id", "E100"), ("--agent", '{"mbox": "mailto:learner@example.com"}')]
)
def test_an_export_holds_the_statements_retention_pseudonymised(
    pms_target, django_capture_on_commit_callbacks, tmp_path, args
):
    """They are still the person's data, linkable by the LRS (README "Export")."""
    old, new = aged_out_and_new(django_capture_on_commit_callbacks, pms_target)

    files = export_command(tmp_path, *args)

    assert {s["id"] for s in lines(files["statements.jsonl"])} == {old, new}


def rotate_secret_key(settings) -> None:
    """``SECRET_KEY`` rotated the Django way (the old one in ``SECRET_KEY_FALLBACKS``), retention's
    pseudonyms keyed from it (no ``LRS_PSEUDONYM_KEY``)."""
    settings.LRS_PSEUDONYM_KEY = ""
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "y" * 40


def test_an_erasure_after_a_secret_key_rotation_finds_the_statements_retention_pseudonymised_before(
    pms_target, settings, django_capture_on_commit_callbacks
):
    """Retention gave the person a pseudonym keyed from the ``SECRET_KEY`` of then: after a
    rotation the erasure still finds those statements (and their events at the PMS go)."""
    capture = django_capture_on_commit_callbacks
    settings.LRS_PSEUDONYM_KEY = ""
    aged_out_and_new(capture, pms_target)
    before = retention_ifi()
    rotate_secret_key(settings)

    with capture(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    finish_erasures()

    assert outcome.request.counts["own_statements"] == 2
    assert not StatementAgent.objects.filter(agent_ifi=before).exists()
    assert pms_target.events() == {}


def test_an_export_after_a_secret_key_rotation_holds_the_statements_retention_pseudonymised_before(
    pms_target, settings, django_capture_on_commit_callbacks, tmp_path
):
    """They are still the person's data, linkable by the LRS through the rotated key."""
    settings.LRS_PSEUDONYM_KEY = ""
    old, new = aged_out_and_new(django_capture_on_commit_callbacks, pms_target)
    rotate_secret_key(settings)

    files = export_command(tmp_path, "--employee-id", "E100")

    assert {s["id"] for s in lines(files["statements.jsonl"])} == {old, new}


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_an_erasure_revokes_the_marketplace_record_of_evidence_a_deleting_retention_removed(
    market_target, django_capture_on_commit_callbacks, mode
):
    """The member's one completion evidenced SAFETY-BASICS; a deleting retention aged it out (the
    statement, its deliveries and its evidence gone), the marketplace keeping the record (README
    "Retention") and the LRS its mirror row of it, which names the member. The erasure of the
    member can find that row (by their employee id) and revoke what it says the marketplace holds:
    README "Privacy" promises that a skill only they evidenced is revoked."""
    capture = django_capture_on_commit_callbacks
    [old] = store_now(capture, completion())
    assert list(market_target.skills()) == [("E100", "SAFETY-BASICS")]
    stored = Statement.objects.get(statement_id=old).stored
    apply_retention(
        policy=Policy(statement_days=30, mode="delete", attempt_body_days=0), now=stored + timedelta(days=31)
    )
    assert not Statement.objects.exists()
    assert SkillRecord.objects.filter(member_id="E100", evidence_aged_out=True).exists()

    with capture(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")
    finish_erasures()

    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    assert list(SkillRecord.objects.values_list("member_id", "competency_code", "record")) == [], (
        "the LRS keeps its mirror row naming the erased member"
    )
    assert market_target.skills() == {}, "the marketplace keeps the erased member's record"


def _aged_out_record(capture, market) -> None:
    """The learner's one completion evidenced SAFETY-BASICS; a deleting retention aged it out."""
    [old] = store_now(capture, completion())
    assert list(market.skills()) == [("E100", "SAFETY-BASICS")]
    stored = Statement.objects.get(statement_id=old).stored
    apply_retention(
        policy=Policy(statement_days=30, mode="delete", attempt_body_days=0), now=stored + timedelta(days=31)
    )
    assert SkillRecord.objects.filter(member_id="E100", evidence_aged_out=True).exists()


def test_a_revocation_the_marketplace_failed_holds_the_erasure_and_is_made_at_its_next_finish(
    market_target, django_capture_on_commit_callbacks
):
    """The marketplace answers the revocation 500 after applying it: the request waits, owing it
    (the member's id kept on it until then), and the next finish sends the same write again (same
    key: the marketplace drops the repeat), then forgets the record."""
    capture = django_capture_on_commit_callbacks
    _aged_out_record(capture, market_target)
    market_target.enqueue(applied_then(500))

    with capture(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    outcome.request.refresh_from_db()
    assert outcome.request.status == ErasureRequest.RETRACTING
    assert outcome.request.targets["market"]["revoke"] == ["E100"]
    assert "500" in outcome.request.targets["market"]["last_error"]
    finish_erasures()

    outcome.request.refresh_from_db()
    assert outcome.request.status == ErasureRequest.DONE
    assert (
        outcome.request.targets["market"]["revoked"] == 1
        and "revoke" not in outcome.request.targets["market"]
    )
    assert market_target.skills() == {}
    deletions = [r for r in market_target.requests if r.method == "DELETE"]
    assert len(deletions) == 2 and deletions[0].header("Idempotency-Key") == deletions[1].header(
        "Idempotency-Key"
    )
    assert not SkillRecord.objects.exists()


def test_an_erasure_by_agent_of_an_employee_still_linked_otherwise_revokes_no_aged_out_record(
    market_target, django_capture_on_commit_callbacks
):
    """The employee keeps another identifier: an aged-out record may rest on its statements (its
    evidence is gone too, so the LRS cannot tell), and the employee is not erased: it stays."""
    capture = django_capture_on_commit_callbacks
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(accounts=[ACCOUNT]))
    _aged_out_record(capture, market_target)

    with capture(execute=True):
        erase_subject(subject_for(agent={"mbox": f"mailto:{LEARNER}"}), mode="delete", requested_by="dpo")
    finish_erasures()

    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    assert list(market_target.skills()) == [("E100", "SAFETY-BASICS")]

"""Second review of an erasure's revocation of aged-out marketplace records (``adapters/marketplace/
revocation.py``, ``per_target.revoke_unevidenced``): what it may revoke, and what the LRS keeps of
the erased member when it cannot."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.marketplace import revocation
from adapters.models import ErasureRequest, SkillEvidence, SkillRecord, Target
from adapters.privacy.erasure import erase_subject
from adapters.privacy.retention import Policy, apply_retention
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement
from tests.adapters.helpers import scored_completion, store_now
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db

LEARNER = "learner@example.com"


def _aged_out_record(capture, market) -> None:
    """The learner's (E100's) one completion evidenced SAFETY-BASICS; a deleting retention aged
    it out: the marketplace keeps the record, the LRS its mirror row, no evidence row is left."""
    [old] = store_now(capture, scored_completion(0.9))
    assert list(market.skills()) == [("E100", "SAFETY-BASICS")]
    stored = Statement.objects.get(statement_id=old).stored
    apply_retention(
        policy=Policy(statement_days=30, mode="delete", attempt_body_days=0), now=stored + timedelta(days=31)
    )
    assert SkillRecord.objects.filter(member_id="E100", evidence_aged_out=True).exists()
    assert not SkillEvidence.objects.exists()


def test_a_record_a_delivery_evidenced_after_the_revocation_read_it_is_not_revoked(
    market_target, django_capture_on_commit_callbacks, monkeypatch
):
    """E100 is linked again (the HRIS feed) and a new completion of theirs is delivered, its
    evidence recorded and the record written, after the revocation read which records have no
    evidence but before it took their leases (the delivery held the lease, then let it go). The
    record rests on live evidence now: revoking it would leave the marketplace without a skill
    the LRS's evidence gives (and its mirror saying so)."""
    capture = django_capture_on_commit_callbacks
    _aged_out_record(capture, market_target)
    read = revocation.unevidenced
    fresh: list[str] = []

    def read_then_a_delivery_lands(target_id: int, member_ids: list[str]):
        keys = read(target_id, member_ids)
        if not fresh:
            identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=[LEARNER]))
            fresh.extend(store_now(capture, scored_completion(0.75)))
        return keys

    monkeypatch.setattr(revocation, "unevidenced", read_then_a_delivery_lands)

    with capture(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")

    outcome.request.refresh_from_db()
    assert outcome.request.status == ErasureRequest.DONE
    assert SkillEvidence.objects.filter(member_id="E100", statement__statement_id=fresh[0]).exists()
    assert list(market_target.skills()) == [("E100", "SAFETY-BASICS")], (
        "the revocation deleted a record the new completion evidences"
    )


@pytest.mark.parametrize("refusal", [409, 403])
def test_a_revocation_given_up_leaves_no_mirror_row_naming_the_erased_member(
    market_target, django_capture_on_commit_callbacks, refusal
):
    """The marketplace refuses the revocation for good (a 4xx): the erasure gives it up, the
    request finishes (DONE), its entry telling the admin to revoke there too and no longer
    holding the member's id. The LRS's mirror row of the record (the member's id, the record as
    sent with the learner's address) has no use left: nothing will revoke it now, and the
    erasure is done. Kept, it names the erased member in the LRS for good."""
    capture = django_capture_on_commit_callbacks
    _aged_out_record(capture, market_target)
    market_target.enqueue(status(refusal))

    with capture(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")

    outcome.request.refresh_from_db()
    assert outcome.request.status == ErasureRequest.DONE
    assert "gave up" in outcome.request.targets["market"]["revoked"]
    assert "revoke" not in outcome.request.targets["market"]
    assert list(market_target.skills()) == [("E100", "SAFETY-BASICS")]  # the admin's to revoke
    assert list(SkillRecord.objects.values_list("member_id", "record")) == [], (
        "the LRS keeps its mirror row naming the erased member after the erasure gave up"
    )


@pytest.mark.parametrize("named_by", ["employee_id", "agent"])
def test_a_dry_run_reports_the_aged_out_records_the_erasure_would_revoke(
    market_target, django_capture_on_commit_callbacks, named_by
):
    """The erasure would delete the record at the marketplace (README "Privacy"): the dry run, and
    the admin's confirmation page built from it, say so, as they count the retractions, and
    revoke nothing. By agent: the learner's address is E100's only identifier, so the erasure
    leaves E100 without a link and revokes it too."""
    capture = django_capture_on_commit_callbacks
    _aged_out_record(capture, market_target)
    subject = (
        subject_for(employee_id="E100")
        if named_by == "employee_id"
        else subject_for(agent={"mbox": f"mailto:{LEARNER}"})
    )

    plan = erase_subject(subject, mode="delete", requested_by="dpo", dry_run=True)

    assert plan.as_dict().get("revocations") == {"market": 1}, plan.as_dict()
    assert list(market_target.skills()) == [("E100", "SAFETY-BASICS")]
    assert not ErasureRequest.objects.exists()


def test_a_dry_run_by_agent_of_an_employee_linked_otherwise_reports_no_revocation(
    market_target, django_capture_on_commit_callbacks
):
    """The erasure would leave E100 another identifier, and so revoke nothing: nor does the plan."""
    capture = django_capture_on_commit_callbacks
    identity_links_upsert(
        employee_id="E100",
        identifiers=Identifiers(accounts=[{"homePage": "https://lms.example.com", "name": "ada-100"}]),
    )
    _aged_out_record(capture, market_target)

    plan = erase_subject(
        subject_for(agent={"mbox": f"mailto:{LEARNER}"}), mode="delete", requested_by="dpo", dry_run=True
    )

    assert plan.as_dict().get("revocations", {}) == {}


def test_a_revocation_given_up_at_a_disabled_target_leaves_no_mirror_row_naming_the_member(
    market_target, django_capture_on_commit_callbacks
):
    """The target is disabled when the erasure finishes: the revocation is given up ("target
    removed or disabled"), the member's id dropped from the request; the mirror row naming them
    has no use left either."""
    capture = django_capture_on_commit_callbacks
    _aged_out_record(capture, market_target)
    Target.objects.filter(name="market").update(enabled=False)

    with capture(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")

    outcome.request.refresh_from_db()
    assert outcome.request.status == ErasureRequest.DONE
    assert outcome.request.targets["market"]["revoked"] == "target removed or disabled"
    assert list(SkillRecord.objects.values_list("member_id", "record")) == [], (
        "the LRS keeps its mirror row naming the erased member after the erasure gave up"
    )


def test_a_revocation_given_up_while_a_lease_held_its_record_keeps_no_text_naming_the_member(
    market_target, django_capture_on_commit_callbacks, settings
):
    """The last try found the record leased (a delivery stuck, its lease not yet run out): the
    ``DeliveryBusy`` it raised names the record, the member's id in it. Given up (here after one
    attempt), the request drops the id it owed the revocation, and must not keep it in the error
    text it records for the admin."""
    capture = django_capture_on_commit_callbacks
    settings.LRS_ERASURE_NOTICE_ATTEMPTS = 1
    _aged_out_record(capture, market_target)
    SkillRecord.objects.filter(member_id="E100").update(
        lease_token="a-stuck-delivery", lease_until=timezone.now() + timedelta(hours=1)
    )

    with capture(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")

    outcome.request.refresh_from_db()
    assert outcome.request.status == ErasureRequest.DONE
    assert "gave up" in outcome.request.targets["market"]["revoked"]
    assert "E100" not in json.dumps(outcome.request.targets), outcome.request.targets

"""What the marketplace holds: a member's skill record is a function of the set of live
(non-voided) statements evidencing it, never of the order they arrived or were delivered in
(the adapter's contract, adapters/marketplace/adapter.py)."""

from __future__ import annotations

import pytest

from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.marketplace.adapter import EVIDENCE_LIMIT
from adapters.models import CompetencyMapping, Delivery, Target
from tests.adapters.helpers import COURSE, store_now, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then

pytestmark = pytest.mark.django_db


def evidence(score: float | None, *, timestamp: str = "2026-03-05T10:00:00Z", **extra) -> dict:
    result = {"completion": True, **({"score": {"scaled": score}} if score is not None else {})}
    return make_statement(
        actor_email="learner@example.com", activity=COURSE, result=result, timestamp=timestamp, **extra
    )


def skill(market) -> dict:
    return market.skills()[("E100", "SAFETY-BASICS")]


def test_a_lower_score_retake_keeps_the_highest_level(market_target, django_capture_on_commit_callbacks):
    store_now(django_capture_on_commit_callbacks, evidence(0.95, timestamp="2026-03-01T10:00:00Z"))
    assert skill(market_target)["level"] == 5
    store_now(django_capture_on_commit_callbacks, evidence(0.55, timestamp="2026-03-08T10:00:00Z"))
    record = skill(market_target)
    assert record["level"] == 5
    assert record["learningCompleted"]["date"] == "2026-03-08"  # the latest live evidence


def test_an_older_statement_stored_later_does_not_move_the_date_back(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, evidence(0.8, timestamp="2026-03-05T10:00:00Z"))
    store_now(django_capture_on_commit_callbacks, evidence(0.8, timestamp="2026-01-01T10:00:00Z"))
    assert skill(market_target)["learningCompleted"]["date"] == "2026-03-05"


def test_voiding_one_of_several_pieces_of_evidence_recomputes_the_skill(
    market_target, django_capture_on_commit_callbacks
):
    ids = [
        store_now(django_capture_on_commit_callbacks, evidence(score, timestamp=f"2026-03-0{day}T10:00:00Z"))[
            0
        ]
        for day, score in ((1, 0.6), (2, 0.95), (3, 0.7), (4, 0.8))
    ]
    assert skill(market_target)["level"] == 5
    store_now(django_capture_on_commit_callbacks, voiding(ids[1]))  # the 95 % one
    record = skill(market_target)
    assert record["level"] == 4
    assert sorted(item["statementId"] for item in record["evidence"]) == sorted([ids[0], ids[2], ids[3]])
    assert market_target.revocations() == []


def test_the_skill_is_deleted_only_when_no_live_evidence_remains(
    market_target, django_capture_on_commit_callbacks
):
    first = store_now(django_capture_on_commit_callbacks, evidence(0.6))[0]
    second = store_now(django_capture_on_commit_callbacks, evidence(0.7))[0]
    store_now(django_capture_on_commit_callbacks, voiding(first))
    assert ("E100", "SAFETY-BASICS") in market_target.skills()
    store_now(django_capture_on_commit_callbacks, voiding(second))
    assert market_target.skills() == {}
    assert market_target.revocations() == [("E100", "SAFETY-BASICS")]


def test_a_statement_that_changes_nothing_sends_no_request(market_target, django_capture_on_commit_callbacks):
    for day in range(1, EVIDENCE_LIMIT + 1):
        store_now(
            django_capture_on_commit_callbacks, evidence(0.95, timestamp=f"2026-03-{day:02d}T10:00:00Z")
        )
    puts = len(market_target.requests_for("skills.put"))
    # Lower and older than every piece of evidence listed: level, date and list stay as they are.
    store_now(django_capture_on_commit_callbacks, evidence(0.6, timestamp="2026-01-01T10:00:00Z"))
    assert len(market_target.requests_for("skills.put")) == puts
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == EVIDENCE_LIMIT + 1


def test_a_forced_backfill_re_evaluates_and_sends_an_unchanged_record_no_more(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, evidence(0.8))
    requests = len(market_target.requests)
    with django_capture_on_commit_callbacks(execute=True):
        counts = backfill(target=Target.objects.get(name="market"), force=True)
    assert counts["requeued"] == 1
    assert len(market_target.requests) == requests


def test_a_learner_known_only_by_account_is_delivered_by_employee_id(
    market_target, django_capture_on_commit_callbacks
):
    account = {"homePage": "https://hr.example.com", "name": "grace"}
    identity_links_upsert(employee_id="E200", identifiers=Identifiers(accounts=[account]))
    statement = evidence(0.8)
    statement["actor"] = {"objectType": "Agent", "name": "Grace", "account": account}
    store_now(django_capture_on_commit_callbacks, statement)
    assert Delivery.objects.get().status == Delivery.DELIVERED, Delivery.objects.get().last_error
    record = market_target.skills()[("E200", "SAFETY-BASICS")]
    assert record["memberId"] == "E200" and "email" not in record


def test_a_write_applied_but_unanswered_is_not_taken_for_what_the_marketplace_holds(
    market_target, django_capture_on_commit_callbacks
):
    first = store_now(django_capture_on_commit_callbacks, evidence(0.6, timestamp="2026-03-01T10:00:00Z"))[0]
    market_target.enqueue(applied_then(500))  # the 95 % record is applied, the answer is a 500
    second = store_now(django_capture_on_commit_callbacks, evidence(0.95, timestamp="2026-03-02T10:00:00Z"))[
        0
    ]
    assert skill(market_target)["level"] == 5
    store_now(django_capture_on_commit_callbacks, voiding(second))
    record = skill(market_target)
    assert record["level"] == 3 and [item["statementId"] for item in record["evidence"]] == [first]


def test_a_forced_backfill_applies_a_corrected_mapping(market_target, django_capture_on_commit_callbacks):
    store_now(django_capture_on_commit_callbacks, evidence(0.8))
    assert skill(market_target)["level"] == 4
    CompetencyMapping.objects.filter(is_active=True).update(
        version="2026.2",
        rules=[{"activity_id": COURSE, "codes": ["SAFETY-BASICS"], "level": {"fixed": 2}}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    record = skill(market_target)
    assert record["level"] == 2 and record["mappingVersion"] == "2026.2"


def test_pseudonymise_names_the_member_by_a_keyed_pseudonym_and_sends_no_email(
    market_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="market")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "pseudonymise": True})
    store_now(django_capture_on_commit_callbacks, evidence(0.8))
    [(member, code)] = market_target.skills()
    record = market_target.skills()[(member, code)]
    assert member.startswith("p-") and member != "E100" and record["memberId"] == member
    assert "email" not in record and "learner@example.com" not in str(record)


def test_a_failed_write_records_the_request_it_sent_for_the_admin(
    market_target, django_capture_on_commit_callbacks
):
    # The marketplace's deliveries run whole, one at a time (not on the sending lanes): a failed
    # attempt still shows what went out, redacted like every other target's.
    from adapters.models import Attempt
    from tests.targets.behaviours import status

    market_target.enqueue(status(503))
    store_now(django_capture_on_commit_callbacks, evidence(0.8))
    attempt = Attempt.objects.get(outcome=Attempt.RETRY)
    assert attempt.request.startswith("PUT ") and "SAFETY-BASICS" in attempt.request
    assert "Bearer" not in attempt.request.replace("Authorization: [redacted]", "")

"""A learner's address moved to another employee (a wrong import corrected): a statement's
delivery run again gives its evidence to the member it names now and takes it from the one it
named before, whose record is recomputed without it; a void then retracts it from whichever
members' records still rest on it."""

from __future__ import annotations

import pytest

from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_move
from adapters.models import Delivery, SkillEvidence, Target
from tests.adapters.helpers import scored_completion, store_now, voiding
from tests.targets.behaviours import applied_then, ok

pytestmark = pytest.mark.django_db
CODE = "SAFETY-BASICS"


def _move_to_e200() -> None:
    identity_links_move(
        identifiers=Identifiers(emails=["learner@example.com"]),
        from_employee_id="E100",
        to_employee_id="E200",
    )


def _backfill(capture) -> None:
    with capture(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)


def _resting_on(market, statement_id: str) -> list[tuple[str, str]]:
    return [
        key
        for key, record in market.skills().items()
        if statement_id in [item["statementId"] for item in record["evidence"]]
    ]


def test_a_re_evaluation_after_an_identity_move_moves_the_evidence_to_the_member_named_now(
    market_target, django_capture_on_commit_callbacks
):
    s = store_now(
        django_capture_on_commit_callbacks, scored_completion(0.8, timestamp="2026-03-01T10:00:00Z")
    )[0]
    _move_to_e200()
    _backfill(django_capture_on_commit_callbacks)
    assert set(market_target.skills()) == {("E200", CODE)}
    assert _resting_on(market_target, s) == [("E200", CODE)]
    assert list(SkillEvidence.objects.values_list("member_id", flat=True)) == ["E200"]


def test_a_void_after_an_identity_move_and_a_re_evaluation_reaches_no_member(
    market_target, django_capture_on_commit_callbacks
):
    """S is delivered to E100, its e-mail moved to E200, a forced backfill re-evaluates S, S is
    voided: no member's record may rest on S (the retraction once failed for good, finding S's
    evidence under two members, and both records kept it)."""
    s = store_now(
        django_capture_on_commit_callbacks, scored_completion(0.8, timestamp="2026-03-01T10:00:00Z")
    )[0]
    _move_to_e200()
    _backfill(django_capture_on_commit_callbacks)
    store_now(django_capture_on_commit_callbacks, voiding(s))
    retraction = Delivery.objects.get(statement_uuid=s, kind="retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    assert market_target.skills() == {}


def test_a_void_while_a_moved_statements_re_delivery_is_unfinished_retracts_it_from_every_member(
    market_target, django_capture_on_commit_callbacks
):
    """The re-delivery takes S off E100's record, then writes E200's but gets no answer: S's
    evidence is still recorded under both members when the void comes, E200's record rests on S,
    and the retraction recomputes both records."""
    s = store_now(
        django_capture_on_commit_callbacks, scored_completion(0.8, timestamp="2026-03-01T10:00:00Z")
    )[0]
    _move_to_e200()
    market_target.enqueue(ok(), applied_then(500))  # E100's deletion, then E200's write unanswered
    _backfill(django_capture_on_commit_callbacks)
    assert _resting_on(market_target, s) == [("E200", CODE)]
    assert sorted(SkillEvidence.objects.values_list("member_id", flat=True)) == ["E100", "E200"]
    store_now(django_capture_on_commit_callbacks, voiding(s))
    retraction = Delivery.objects.get(statement_uuid=s, kind="retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    assert market_target.skills() == {}

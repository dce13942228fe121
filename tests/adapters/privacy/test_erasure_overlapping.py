"""Two erasures whose statements overlap, made at once: a Group statement naming both people, a
statement of one with the other as instructor; or two identifiers of the same employee (an
``mbox`` and an ``account``), each erased by agent, with a Group statement naming both.

Each erasure locks its statements, by id, then their deliveries, by id
(``per_target.statements_and_deliveries_locked``): the one that comes second waits for the first
to commit, never each for the other. Real threads on real PostgreSQL, separate connections: the
first erasure is stopped once it holds its locks until the second has ended or waits for a lock
(``pg_stat_activity``). A dry run made meanwhile reads and waits for nothing.

The end must be that of one erasure after the other: no statement names either person, no
delivery waits for either, both requests are recorded and finished, the PMS holds nothing of
their own statements."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from adapters.delivery import queue
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, ErasureRequest
from adapters.privacy import erasure
from adapters.privacy.erasure import ErasurePlan, erase_subject
from adapters.privacy.subjects import Subject, subject_for
from lrs.statements.models import Statement, StatementAgent
from lrs.statements.store import statement_store
from tests.adapters.helpers import scored_completion
from tests.adapters.privacy.test_erasure_concurrent_writers import Sides, _run_due_and_finish, _stopped_once
from tests.adapters.privacy.test_retention_erasure_race import TIMEOUT
from tests.conftest import make_statement
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]

LEARNER = {"mbox": "mailto:learner@example.com"}  # E100 (fake_env)
BEE = {"mbox": "mailto:bee@example.com"}
ACCOUNT = {"account": {"homePage": "https://lms.example.com", "name": "ada-100"}}
MODES = [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE]


def _stored(*statements: dict) -> list[str]:
    return statement_store(statements=list(statements), credential=None)


People = tuple[Callable[[], Subject], Callable[[], Subject], list[str], list[str]]


def _two_people() -> People:
    """learner@ (E100) and bee@ (E200): each one's completion, a Group statement of both (held
    ambiguous), the learner's completion with bee as instructor."""
    identity_links_upsert(employee_id="E200", identifiers=Identifiers(emails=["bee@example.com"]))
    group = {"objectType": "Group", "member": [LEARNER, BEE]}
    ids = _stored(
        scored_completion(0.95),
        scored_completion(0.8, email="bee@example.com"),
        make_statement(actor=group),
        scored_completion(0.7, context={"instructor": BEE}),
    )
    return (
        lambda: subject_for(agent=LEARNER),
        lambda: subject_for(employee_id="E200"),
        ["learner@example.com", "bee@example.com"],
        [ids[0], ids[1], ids[3]],
    )


def _one_employee_two_identifiers() -> People:
    """learner@ and the account ada-100, both linked to E100: each one's completion and a Group
    statement of both (delivered: both members are E100)."""
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(accounts=[ACCOUNT["account"]]))
    group = {"objectType": "Group", "member": [LEARNER, ACCOUNT]}
    by_account = scored_completion(0.8)
    by_account["actor"] = {"objectType": "Agent", **ACCOUNT}
    ids = _stored(scored_completion(0.95), by_account, make_statement(actor=group))
    return (
        lambda: subject_for(agent=LEARNER),
        lambda: subject_for(agent=ACCOUNT),
        ["learner@example.com", "ada-100"],
        ids[:2],
    )


@pytest.mark.parametrize("second", ["erasure", "dry-run"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "people", [_two_people, _one_employee_two_identifiers], ids=["two-people", "one-employee"]
)
def test_two_erasures_of_overlapping_statements_made_at_once_end_as_one_after_the_other(
    pms_target, people, mode, second, monkeypatch
):
    first_subject, second_subject, names, own = people()
    assert pms_target.events()  # something of theirs was delivered, to be retracted
    due: list[int] = []  # the retractions, queued as a broker would, run after the race
    monkeypatch.setattr(queue, "after_commit", lambda ids: due.extend(ids))
    reached, go = threading.Event(), threading.Event()
    stopped = _stopped_once(erasure.statements_and_deliveries_locked, reached, go, after=True)
    monkeypatch.setattr(erasure, "statements_and_deliveries_locked", stopped)
    answers: dict[str, object] = {}

    def erase(name: str, subject: Callable[[], Subject], *, dry_run: bool = False) -> None:
        answers[name] = erase_subject(subject(), mode=mode, requested_by=name, dry_run=dry_run)

    sides = Sides()
    sides.start("first", lambda: erase("first", first_subject))
    try:
        assert reached.wait(TIMEOUT), "the first erasure never locked its statements"
        sides.start("second", lambda: erase("second", second_subject, dry_run=second == "dry-run"))
        sides.wait_for_a_lock_or_end("second")
        waited = sides.threads["second"].is_alive()
    finally:
        go.set()
        sides.join()
    _run_due_and_finish()

    assert sides.errors == {}, {name: repr(exc) for name, exc in sides.errors.items()}
    # The second erasure waited for a statement the first held; a dry run, reading, for nothing.
    assert waited == (second == "erasure")
    if second == "dry-run":
        assert isinstance(answers["second"], ErasurePlan)
        assert answers["second"].own_statements  # read while the first held them: as before it
    else:  # the second found its statements as the first left them, and erased them too
        assert not isinstance(answers["second"], ErasurePlan)
    statuses = list(ErasureRequest.objects.values_list("requested_by", "status").order_by("requested_by"))
    expected = [("first", ErasureRequest.DONE)]
    if second == "erasure":
        expected.append(("second", ErasureRequest.DONE))
        # No statement names either, in its text or its index rows.
        left = [payload for payload in Statement.objects.values_list("payload", flat=True)]
        assert not [payload for payload in left if any(name in payload for name in names)], left
        indexed = StatementAgent.objects.values_list("agent_ifi", flat=True)
        assert not [ifi for ifi in indexed if any(name in ifi for name in names)]
        # No delivery waits for either, nor is still to be made.
        open_ = Delivery.objects.exclude(status__in=[Delivery.DELIVERED, Delivery.CANCELLED])
        assert list(open_.values_list("kind", "status", "held_key")) == []
        assert not Delivery.objects.exclude(held_key="").exists()
        assert not [
            error
            for error in Delivery.objects.values_list("last_error", flat=True)
            if any(n in error for n in names)
        ]
        # The PMS holds nothing of their own statements (the one-employee Group statement is
        # another's for each erasure by agent: see the report).
        kept = list(pms_target.events())
        assert [key for key in kept if key.split(":", 1)[0] in own] == [], kept
        assert len(pms_target.retractions()) == len(own), "each own event retracted once"
    assert statuses == expected


@pytest.mark.parametrize("mode", MODES)
def test_the_erasure_of_the_last_member_of_a_group_the_others_were_erased_from_retracts_its_effects(
    pms_target, mode
):
    """An mbox and an account of E100, each erased by agent, one after the other: the Group
    statement of both (delivered: both are E100) is another's for the first (the account is still
    linked), and once the first made its member a pseudonym, a Group of no one else for the
    second (an erased pseudonym is no one): its event at the PMS is the last member's to retract,
    or it stays for good, naming E100, with no one left to erase it."""
    _first, _second, _names, own = _one_employee_two_identifiers()
    [group] = [key for key in pms_target.events() if key.split(":", 1)[0] not in own]

    erase_subject(subject_for(agent=LEARNER), mode=mode, requested_by="first")
    _run_due_and_finish()
    assert group in pms_target.events()  # the account is still E100's: not the first's to take
    erase_subject(subject_for(agent=ACCOUNT), mode=mode, requested_by="second")
    _run_due_and_finish()

    assert pms_target.events() == {}, "the Group statement's event outlived both its members' erasures"
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE] * 2

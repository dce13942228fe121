"""A person linked by an explicit ``mbox_sha1sum`` alone (their address never linked): statements
by the mailbox as an ``mbox`` resolve to them through it (``adapters.identity.resolution.agent_keys``,
xAPI Data 2.4.2.3: the same mailbox), and reach the targets as theirs. A privacy request naming
them by that SHA-1 or by employee id covers those statements and their effects too, as one naming
the address covers the SHA-1's (``test_erasure_by_sha1``); the other learner's stay."""

from __future__ import annotations

import hashlib

import pytest

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import scored_completion as completion
from tests.adapters.helpers import store_now

pytestmark = pytest.mark.django_db
ADA_SHA1 = hashlib.sha1(b"mailto:ada@example.com").hexdigest()


def pms_employees(pms) -> list[str]:
    return sorted(event["employeeId"] for event in pms.events().values())


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
@pytest.mark.parametrize("named", ["sha1", "employee"])
@pytest.mark.parametrize("spelled", ["ada@example.com", "Ada@Example.com"])
def test_an_erasure_of_a_person_linked_by_sha1_alone_takes_their_mbox_statements_effects(
    pms_target, market_target, django_capture_on_commit_callbacks, mode, named, spelled
):
    identity_links_upsert(employee_id="E300", identifiers=Identifiers(mbox_sha1sums=[ADA_SHA1]))
    by_sha1 = completion(0.8)
    by_sha1["actor"] = {"objectType": "Agent", "mbox_sha1sum": ADA_SHA1}
    # E100 is learner@example.com (fake_env): the other learner, whose event stays.
    store_now(django_capture_on_commit_callbacks, completion(0.92, email=spelled), by_sha1, completion(0.7))
    assert pms_employees(pms_target) == ["E100", "E300", "E300"]

    subject = (
        subject_for(agent={"objectType": "Agent", "mbox_sha1sum": ADA_SHA1})
        if named == "sha1"
        else subject_for(employee_id="E300")
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject, mode=mode, requested_by="dpo")
    finish_erasures()

    assert pms_employees(pms_target) == ["E100"]
    assert outcome.request.counts["own_statements"] == 2
    assert ("E300", "SAFETY-BASICS") not in market_target.skills()
    assert ("E100", "SAFETY-BASICS") in market_target.skills()

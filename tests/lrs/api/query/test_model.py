"""The model of tests/lrs/api/query/model.py on the cases a property walk once disagreed with the
LRS on: a disagreement is settled here, plainly, before the property test relies on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.lrs.api.query.model import VOIDED, Query, Spec, Store, Stored, new_ids

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ACTIVITY = ("activity", "http://example.com/act/x")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_chain_stops_at_a_statement_the_credential_may_not_read():
    """mine's voiding statement V targets lms's B (completed), which targets mine's C (completed).
    For ``statements/read/mine`` B may not decide the answer, neither by matching itself nor by
    what it refers to (tests/security/review/test_read_mine_chains.py): V does not match. The
    falsifying example of test_paging_properties.py (verb filter, voids, a StatementRef)."""
    own, theirs, voiding = new_ids(3)
    model = Store()
    model.add(Stored(own, Spec(actor="ann", verb=COMPLETED, obj=ACTIVITY), 1, T0, by="mine"))
    model.add(Stored(voiding, Spec(actor="bob", verb=VOIDED, obj=("ref", theirs)), 2, T0, by="mine"))
    later = T0 + timedelta(seconds=1)
    model.add(Stored(theirs, Spec(actor="ann", verb=COMPLETED, obj=("ref", own)), 3, later, by="lms"))
    assert model.voided(model.by_id[theirs])
    mine = Query(verb=COMPLETED, mine="mine")
    assert [s.statement_id for s in model.listed(mine, None)] == [own]
    # Reading every statement, V matches through B (2.1.3); B itself is voided, so not listed.
    everyone = Query(verb=COMPLETED)
    assert [s.statement_id for s in model.listed(everyone, None)] == [voiding, own]

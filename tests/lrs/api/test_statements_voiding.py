"""Voiding (xAPI 1.0.3 Data 2.3.2, Communication 2.1.4)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from lrs.statements.models import Statement
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def voiding(target_id: str) -> dict:
    return make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": target_id})


def test_voided_statement_leaves_queries_but_stays_reachable_by_voided_statement_id(xapi):
    [target_id] = xapi.post_statements(make_statement()).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()

    assert xapi.get_statements(statementId=target_id).status_code == 404
    voided = xapi.get_statements(voidedStatementId=target_id)
    assert voided.status_code == 200
    assert voided.json()["id"] == target_id
    listed = [s["id"] for s in xapi.get_statements().json()["statements"]]
    assert target_id not in listed
    assert voiding_id in listed


def test_voided_statement_id_of_a_statement_not_voided_is_404(xapi):
    [target_id] = xapi.post_statements(make_statement()).json()
    assert xapi.get_statements(voidedStatementId=target_id).status_code == 404


def test_a_voiding_statement_cannot_be_voided(xapi):
    [target_id] = xapi.post_statements(make_statement()).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()
    response = xapi.post_statements(voiding(voiding_id))
    assert response.status_code == 400
    assert response.json()["rule"] == "void-voiding-statement"
    assert xapi.get_statements(statementId=voiding_id).status_code == 200


def test_a_batch_voiding_a_voiding_statement_stores_nothing_and_voids_nothing(xapi):
    # The batch's other voiding statement marks its target voided before the refusal is found:
    # the whole batch is refused, and that mark goes with it.
    [first, second] = xapi.post_statements([make_statement(), make_statement()]).json()
    [voiding_id] = xapi.post_statements(voiding(first)).json()
    response = xapi.post_statements([voiding(second), voiding(voiding_id)])
    assert response.status_code == 400
    assert response.json()["rule"] == "void-voiding-statement"
    assert response.json()["path"] == "statements[1].object.id"
    assert xapi.get_statements(statementId=second).status_code == 200
    assert xapi.get_statements(statementId=voiding_id).status_code == 200


def test_voiding_statement_is_matched_by_its_targets_filter(xapi):
    [target_id] = xapi.post_statements(make_statement(verb="http://adlnet.gov/expapi/verbs/passed")).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()
    found = xapi.get_statements(verb="http://adlnet.gov/expapi/verbs/passed").json()["statements"]
    assert [s["id"] for s in found] == [voiding_id]


def test_voiding_a_statement_in_the_same_batch(xapi):
    target = make_statement(statement_id="5f6e8bb2-1b56-4f76-9b1e-2b3a5d3f0c11")
    response = xapi.post_statements([target, voiding(target["id"])])
    assert response.status_code == 200
    assert xapi.get_statements(statementId=target["id"]).status_code == 404
    assert xapi.get_statements(voidedStatementId=target["id"]).status_code == 200


def test_statements_referring_to_matches_are_found_and_paged(xapi):
    passed = "http://adlnet.gov/expapi/verbs/passed"
    [target_id] = xapi.post_statements(make_statement(verb=passed)).json()
    other = xapi.post_statements(make_statement()).json()[0]
    refs = [
        xapi.post_statements(
            make_statement(
                verb="http://example.com/verbs/cites", object={"objectType": "StatementRef", "id": ref}
            )
        ).json()[0]
        for ref in [target_id, other, target_id, other, other, target_id]
    ]
    found = [s["id"] for s in xapi.get_statements(verb=passed).json()["statements"]]
    assert found == [refs[5], refs[2], refs[0], target_id]
    page = xapi.get_statements(verb=passed, limit=2).json()
    assert [s["id"] for s in page["statements"]] == [refs[5], refs[2]]
    rest = xapi.get(page["more"]).json()
    assert [s["id"] for s in rest["statements"]] == [refs[0], target_id]


# Data 2.3.2: "An LRS MUST consider a Statement it contains voided if and only if the Statement is
# not itself a voiding Statement and the LRS also contains a voiding Statement referring to the
# first Statement", whichever arrived first (a voiding statement whose target is not stored yet
# is accepted: "the LRS SHOULD NOT* reject the request on the grounds of the Object of that
# voiding Statement not being present").
# https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#232-voiding
def _warm_up(xapi) -> None:
    """Two statements about the activity make_statement uses: the next single statement about it
    takes the one-SQL path (lrs.statements.single), which must find the voiding statement too."""
    for _ in range(2):
        xapi.post_statements(make_statement())


@pytest.mark.parametrize("how", ["single", "in a batch", "put"])
def test_a_statement_arriving_after_its_voiding_statement_is_stored_voided(xapi, how):
    _warm_up(xapi)
    target = make_statement(statement_id="0c6f1f5e-3a4b-4c2d-8e9f-1a2b3c4d5e6f")
    [voiding_id] = xapi.post_statements(voiding(target["id"])).json()
    if how == "single":
        assert xapi.post_statements(target).status_code == 200
    elif how == "in a batch":
        assert xapi.post_statements([make_statement(), target, make_statement()]).status_code == 200
    else:
        response = xapi.put_json("/xapi/statements", target, query=f"?statementId={target['id']}")
        assert response.status_code == 204

    assert xapi.get_statements(statementId=target["id"]).status_code == 404
    voided = xapi.get_statements(voidedStatementId=target["id"])
    assert voided.status_code == 200 and voided.json()["id"] == target["id"]
    listed = [s["id"] for s in xapi.get_statements(limit=50).json()["statements"]]
    assert target["id"] not in listed and voiding_id in listed


def test_a_voiding_statement_arriving_after_a_statement_voiding_it_is_not_voided(xapi):
    # A voiding statement cannot be voided: the earlier one, naming it, voids nothing, and the
    # later one still voids its own target.
    [target_id] = xapi.post_statements(make_statement()).json()
    later = voiding(target_id)
    later["id"] = "6a1d0b7e-2f3c-4d5e-9a8b-7c6d5e4f3a2b"
    xapi.post_statements(voiding(later["id"]))
    assert xapi.post_statements(later).status_code == 200
    assert xapi.get_statements(statementId=later["id"]).status_code == 200
    assert xapi.get_statements(statementId=target_id).status_code == 404


def test_voiding_a_voiding_statement_is_named_by_its_place_in_the_batch_sent(xapi):
    # The batch's first statement is already stored (a no-op): the refusal still names the
    # second statement sent, not the first one written.
    stored = make_statement(statement_id="7d2c9e4a-5b3f-4a1e-9c8d-2e6f0a1b3c5d")
    [target_id] = xapi.post_statements(stored).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()
    response = xapi.post_statements([stored, voiding(voiding_id)])
    assert response.status_code == 400
    assert (response.json()["path"], response.json()["rule"]) == (
        "statements[1].object.id",
        "void-voiding-statement",
    )


def test_void_late_targets_voids_what_an_earlier_release_left_live(xapi):
    # Before 4690a59 a statement arriving after its voiding statement stayed live; the command,
    # run once after upgrading, voids it (and its deliveries are cancelled or retracted).
    target = make_statement(statement_id="1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9")
    xapi.post_statements(voiding(target["id"]))
    xapi.post_statements(target)
    Statement.objects.filter(statement_id=target["id"]).update(voided=False)  # as stored then
    assert xapi.get_statements(statementId=target["id"]).status_code == 200

    out = io.StringIO()
    call_command("void_late_targets", stdout=out)
    assert out.getvalue().strip() == "statements voided: 1"
    assert xapi.get_statements(statementId=target["id"]).status_code == 404
    out = io.StringIO()
    call_command("void_late_targets", stdout=out)
    assert out.getvalue().strip() == "statements voided: 0"


def test_a_statement_referring_to_a_statement_referring_to_a_match_matches_too(xapi):
    """Communication 2.1.3, "Filter Conditions for StatementRefs": "This rule applies recursively,
    so that "Statement a" is a match when a targets b which targets c and the filter conditions
    described above match for "Statement c"", also when b is voided (2.1.4)."""
    passed = "http://adlnet.gov/expapi/verbs/passed"
    cites = "http://example.com/verbs/cites"
    [c] = xapi.post_statements(make_statement(verb=passed)).json()
    [b] = xapi.post_statements(
        make_statement(verb=cites, object={"objectType": "StatementRef", "id": c})
    ).json()
    [a] = xapi.post_statements(
        make_statement(verb=cites, object={"objectType": "StatementRef", "id": b})
    ).json()
    found = [s["id"] for s in xapi.get_statements(verb=passed).json()["statements"]]
    assert found == [a, b, c]
    [void_b] = xapi.post_statements(voiding(b)).json()
    found = [s["id"] for s in xapi.get_statements(verb=passed, limit=2).json()["statements"]]
    assert found == [void_b, a]

"""SubStatements and voiding statements (Data 2.4.4.3, 2.3.2; IEEE 9274.1.1 4.2.5)."""

from __future__ import annotations

import pytest

from lrs.xapi.statement import validate_statement
from tests.lrs.xapi.examples import (
    assert_rejected,
    cmi5_completed,
    planned_substatement,
    voiding,
    xapi2_team_game,
)

V1, V2 = "1.0.3", "2.0.0"


# -- SubStatements ---------------------------------------------------------------------------------


def test_a_substatement_inside_a_substatement_is_rejected():
    statement = planned_substatement()
    statement["object"]["object"] = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/visited"},
        "object": {"id": "http://example.com/website"},
    }
    assert_rejected(
        lambda: validate_statement(statement),
        path="statement.object.object.objectType",
        rule="substatement-nesting",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "8f87ccde-bb56-4c2e-ab83-44982ef22df0"),
        ("stored", "2024-05-04T10:00:00Z"),
        ("version", "1.0.0"),
        ("authority", {"mbox": "mailto:a@example.com"}),
    ],
)
def test_a_substatement_must_not_have_id_stored_version_or_authority(name, value):
    statement = planned_substatement()
    statement["object"][name] = value
    assert_rejected(
        lambda: validate_statement(statement), path=f"statement.object.{name}", rule="substatement-property"
    )


@pytest.mark.parametrize("missing", ["actor", "verb", "object"])
def test_a_substatement_requires_actor_verb_and_object(missing):
    statement = planned_substatement()
    del statement["object"][missing]
    assert_rejected(
        lambda: validate_statement(statement), path=f"statement.object.{missing}", rule="required"
    )


def test_a_substatement_is_validated_as_a_statement():
    statement = planned_substatement()
    statement["object"]["result"] = {"score": {"scaled": 2}}
    assert_rejected(
        lambda: validate_statement(statement), path="statement.object.result.score.scaled", rule="score-range"
    )
    statement = planned_substatement()
    statement["object"]["actor"] = {"objectType": "Agent", "name": "no ifi"}
    assert_rejected(lambda: validate_statement(statement), path="statement.object.actor", rule="one-ifi")


def test_a_substatement_context_platform_requires_the_substatement_object_to_be_an_activity():
    statement = planned_substatement()
    statement["object"]["object"] = {"objectType": "Agent", "mbox": "mailto:jeff@example.com"}
    assert_rejected(
        lambda: validate_statement(statement),
        path="statement.object.context.platform",
        rule="context-revision-platform",
    )


def test_a_substatement_may_carry_a_future_timestamp_and_attachments():
    statement = planned_substatement()
    statement["object"]["attachments"] = cmi5_completed()["attachments"]
    validate_statement(statement)


def test_a_substatement_rejects_context_agents_in_1_0_3_and_accepts_them_in_2_0():
    statement = planned_substatement()
    statement["object"]["context"]["contextAgents"] = xapi2_team_game()["context"]["contextAgents"]
    assert_rejected(
        lambda: validate_statement(statement, version=V1),
        path="statement.object.context.contextAgents",
        rule="unknown-property",
    )
    validate_statement(statement, version=V2)


# -- voiding ---------------------------------------------------------------------------------------


def test_a_voiding_statement_with_a_statement_ref_is_accepted():
    validate_statement(voiding())


@pytest.mark.parametrize(
    "statement_object",
    [
        {"id": "http://example.com/activity"},
        {"objectType": "Agent", "mbox": "mailto:a@example.com"},
    ],
)
def test_a_voiding_statement_must_target_a_statement_ref(statement_object):
    statement = voiding()
    statement["object"] = statement_object
    assert_rejected(
        lambda: validate_statement(statement, path="statements[1]"),
        path="statements[1].object.objectType",
        rule="voiding-object",
    )


def test_a_voiding_substatement_must_target_a_statement_ref_too():
    statement = planned_substatement()
    statement["object"]["verb"] = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    assert_rejected(
        lambda: validate_statement(statement),
        path="statement.object.object.objectType",
        rule="voiding-object",
    )
